"""``fashionlab demo``: the main job on SynthFashion, end to end, on this machine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image, ImageDraw
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)


def edit_ground_truth_sheet(path: Path, seed: int = 7, size: int = 128) -> Path:
    """One person, every value of every attribute: the exact ground truth of each single-attribute edit."""
    from ..synth.attributes import ATTRIBUTES, sample_attributes
    from ..synth.render import render

    base = sample_attributes(np.random.default_rng(seed))
    base.update(pattern="solid", fastening="buttons")
    ncols = max(len(v) for v in ATTRIBUTES.values())
    sheet = Image.new("RGB", (90 + ncols * (size + 4), len(ATTRIBUTES) * (size + 18) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, values) in enumerate(ATTRIBUTES.items()):
        y = 4 + row * (size + 18)
        draw.text((6, y + size // 2), name, fill="black")
        for col, value in enumerate(values):
            img = render(seed, {**base, name: value}, size=size).image
            sheet.paste(Image.fromarray(img), (90 + col * (size + 4), y))
            draw.text((90 + col * (size + 4) + 2, y + size + 2), value, fill="black")
    sheet.save(path)
    return path


SHIPPED_ATTRNET = Path(__file__).resolve().parents[1] / "assets" / "attrnet-synth128"


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Parent folder; each run gets a new run-NNN in it.")] = Path(
        "demo-out"
    ),
    n: Annotated[int, typer.Option(help="Images in the demo dataset.")] = 1200,
    model: Annotated[
        Path, typer.Option(help="Attribute network to use (default: the shipped SynthFashion model).")
    ] = SHIPPED_ATTRNET,
    headless: Annotated[
        bool,
        typer.Option(
            "--headless/--studio",
            envvar="DEMO_HEADLESS",
            help="Run the whole flow once and write a report (DEMO_HEADLESS=1), or start the web studio (default).",
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="The studio's port (a free one if it is taken).")] = 8000,
) -> None:
    """The web studio on the shipped models (default), or, with --headless (DEMO_HEADLESS=1), everything once:
    SynthFashion ground truth, a validated dataset, attributes with activation maps, "this, but with ..."
    search, edits and re-posing against the exact ground truth, and the studio's flow on SynthFashion and on a
    real photograph, into a new demo-out/run-NNN/ with report.html."""
    if not headless:
        from ..serve.config import ServeConfig
        from .serve import run_service

        out.print("fashionlab studio on the shipped models (DEMO_HEADLESS=1 make demo runs everything once instead)")
        run_service(ServeConfig(port=port, work_dir=out_dir / "studio"), any_port=True, open_browser=True)
        return
    import json

    import torch

    from ..data.check import check_dataset, format_report
    from ..data.imaging import load_rgb
    from ..data.sheet import contact_sheet
    from ..engine.runs import next_free_dir
    from ..metrics.attributes import evaluate_attributes
    from ..models.registry import load
    from ..search.build import build_catalog, embed_query
    from ..search.catalog import Catalog
    from ..search.query import Searcher
    from ..search.strip import result_strip
    from ..synth.attributes import sample_attributes
    from ..synth.generate import SynthConfig, generate_dataset
    from ..viz import aam_sheet

    size = 128
    run = next_free_dir(out_dir, "run")
    out.rule(f"fashionlab demo -> {run}")
    t0 = time.perf_counter()
    gt = edit_ground_truth_sheet(run / "edit-ground-truth.png")
    out.print(f"[1/9] one person, every attribute value (exact edit ground truth): {gt}")
    ds = generate_dataset(
        run / "synthfashion",
        SynthConfig(n=n, size=(size, size), seed=12345, region_mix=0.2, holdout=[{"color": "red", "sleeve": "long"}]),
    )
    out.print(f"[2/9] SynthFashion dataset, {n} images at {size}px with masks and keypoints: {ds}")
    report = check_dataset(ds, decode_images=True, progress=False)
    out.print(f"      validated: {report.n_items} items, {len(report.problems)} problems")
    if not report.ok:
        out.print(format_report(report), markup=False)
        raise typer.Exit(1)
    sheet = contact_sheet(ds, run / "sheet.png")
    out.print(f"[3/9] contact sheet: {sheet}")

    net = load(model)
    rep = evaluate_attributes(net, str(ds), "test", progress=False)
    acc = ", ".join(f"{k} {v:.1%}" for k, v in rep.accuracy.items())
    out.print(f"[4/9] attribute network {model.name}: accuracy on the demo's unseen test split: {acc}")
    out.print(
        "      pointing game (AAM peak inside the attribute's own pixels): "
        + ", ".join(f"{k} {v:.1%}" for k, v in rep.pointing.items())
    )
    if rep.pointing_edit:
        out.print(
            "      pointing game (AAM peak where the attribute lives: its exact edit region): "
            + ", ".join(f"{k} {v:.1%}" for k, v in rep.pointing_edit.items())
        )
    from ..data.loader import FashionDataset

    test = FashionDataset(ds, split="test", size=net.preprocess.size, resize=net.preprocess.resize, progress=False)
    x = torch.stack([test[i]["image"] for i in range(min(4, len(test)))])
    from PIL import Image

    Image.fromarray(aam_sheet(net, x, net.attributes)).save(run / "attribute-maps.png")
    out.print(
        f"      where each attribute lives (image, then sleeve/color/pattern/collar/fastening maps): "
        f"{run / 'attribute-maps.png'}"
    )

    cat = build_catalog(model, ds, run / "catalog", splits=["train", "val"], progress=False)
    out.print(f"[5/9] catalog of {len(cat)} items (SQLite + FAISS): {run / 'catalog'}")
    searcher = Searcher(Catalog.open(cat.root), net)
    query = test.items[0]
    change = {"sleeve": "sleeveless" if query.attributes["sleeve"] != "sleeveless" else "long"}
    hits = searcher.query(embed_query(net, test.ds.image_path(query)), change, k=8)
    target = {**query.attributes, **change}
    found = [h.rank + 1 for h in hits if h.item.attributes == target]
    strip = result_strip(
        test.ds.image_path(query), hits, run / "search.png", title=", ".join(f"{k}={v}" for k, v in change.items())
    )
    out.print(
        f"[6/9] query {query.id} {query.attributes} with {change}: exact target at rank(s) "
        f"{found or 'none in the top 8'}; {strip}"
    )
    from ..data.regions import has_region, region_value
    from ..search.embed import model_regions

    sleeved = [it for it in test.items if has_region(it.attributes, "sleeves")]
    if "sleeves" in model_regions(net) and sleeved:
        q2 = sleeved[0]
        body = q2.attributes["color"]
        want = next(
            c for c in ("red", "navy", "yellow", "green") if c not in (body, region_value(q2, "sleeves", "color"))
        )
        hits2 = searcher.query(embed_query(net, test.ds.image_path(q2)), {"color": want}, k=8, region="sleeves")
        ok = [
            h.rank + 1
            for h in hits2
            if region_value(h.item, "sleeves", "color") == want and h.item.attributes["color"] == body
        ]
        strip2 = result_strip(test.ds.image_path(q2), hits2, run / "search-region.png", title=f"sleeves: color={want}")
        out.print(
            f"      region-aware: {q2.id} ({body} garment) with {want} sleeves only: {want}-sleeved {body} garments "
            f"at rank(s) {ok or 'none in the top 8'}; {strip2}"
        )
    from .demo_edit import SHIPPED_EDITOR, edit_demo

    with_sleeves = [it for it in test.items if it.attributes.get("sleeve") != "sleeveless"][:4]
    edited = edit_demo(test.ds, with_sleeves, run / "edits.png")
    if edited is None:
        out.print(f"[7/9] editing: no shipped editor ({SHIPPED_EDITOR}) in this install")
    else:
        out.print(
            f"[7/9] the shipped AMGAN ({SHIPPED_EDITOR}) edits unseen test photos; each edit next to its exact "
            "ground truth (input | sleeve | truth | colour | truth | colour on the sleeves only, the sleeves "
            f"given as a mask | truth): {edited[0]}"
        )
    from .demo_pose import SHIPPED_REPOSER, pose_demo

    reposed = pose_demo(run / "repose.png")
    if reposed is None:
        out.print(f"[8/9] re-posing: no shipped re-posing model ({SHIPPED_REPOSER}) in this install")
    else:
        out.print(
            f"[8/9] the shipped Deformable GAN ({SHIPPED_REPOSER}) renders four new people in new poses, their own "
            f"pose found by the shipped keypoint estimator (source | target pose | result | exact ground truth): "
            f"{reposed[0]}; SSIM to the truth {reposed[1]:.3f} (output = source: {reposed[2]:.3f})"
        )
    from ..serve.state import sample_image
    from .demo_flow import flow_demo, real_photograph

    person_seed = 5_151_515
    person = sample_image(person_seed, json.dumps(sample_attributes(np.random.default_rng(person_seed))), (256, 128))
    pictures = [
        ("synthfashion", load_rgb(test.ds.image_path(test.items[1])), f"unseen test image {test.items[1].id}"),
        ("person", person, "a new SynthFashion person, head to feet (256x128)"),
    ]
    photo = real_photograph()
    if photo is not None:
        pictures.append(("photograph", *photo))
    report = flow_demo(run, searcher, pictures)
    out.print(f"[9/9] the studio's flow on {len(pictures)} pictures (one a real photograph): {report}")
    out.print(
        f"done in {time.perf_counter() - t0:.1f}s. Open {report}; or look at {sheet}, {gt}, "
        f"{run / 'attribute-maps.png'}, {strip}, {run / 'edits.png'} and {run / 'repose.png'}."
    )
