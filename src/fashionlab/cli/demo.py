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


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Parent folder; each run gets a new run-NNN in it.")] = Path(
        "demo-out"),
    n: Annotated[int, typer.Option(help="Images in the demo dataset.")] = 1200,
    size: Annotated[int, typer.Option(help="Image size.")] = 128,
) -> None:
    """Render SynthFashion samples, write and validate a dataset, and draw its contact sheet."""
    from ..data.check import check_dataset, format_report
    from ..data.sheet import contact_sheet
    from ..engine.runs import next_free_dir
    from ..synth.generate import SynthConfig, generate_dataset

    run = next_free_dir(out_dir, "run")
    out.rule(f"fashionlab demo -> {run}")
    t0 = time.perf_counter()
    gt = edit_ground_truth_sheet(run / "edit-ground-truth.png")
    out.print(f"[1/4] one person, every attribute value (exact edit ground truth): {gt}")
    ds = generate_dataset(run / "synthfashion", SynthConfig(n=n, size=(size, size), seed=0, region_mix=0.2,
                                                           holdout=[{"color": "red", "sleeve": "long"}]))
    out.print(f"[2/4] SynthFashion dataset, {n} images at {size}px with masks and keypoints: {ds}")
    report = check_dataset(ds, decode_images=True, progress=False)
    out.print(f"[3/4] validated: {report.n_items} items, {len(report.problems)} problems")
    if not report.ok:
        out.print(format_report(report), markup=False)
        raise typer.Exit(1)
    sheet = contact_sheet(ds, run / "sheet.png")
    out.print(f"[4/4] contact sheet: {sheet}")
    out.print(f"done in {time.perf_counter() - t0:.1f}s. Look at {sheet} and {gt}.")
