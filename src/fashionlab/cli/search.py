"""``fashionlab predict``, ``fashionlab index build|add`` and ``fashionlab search``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import InputError, OutputExistsError
from .options import parse_list

out = Console(highlight=False, soft_wrap=True)
index_app = typer.Typer(
    help="Build and grow search catalogs: a folder (SQLite + FAISS) or Milvus (a .db file for Milvus Lite, or "
    "http://HOST:19530).",
    no_args_is_help=True,
)
LOCATION = "a folder, a Milvus Lite file ending in .db, or a Milvus URI http://HOST:19530 (optionally #COLLECTION)"


def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (any size; grayscale/RGBA are converted).")],
    model: Annotated[str, typer.Option(help="A trained attribute network: run folder, its export/ or asset:NAME.")],
    aam_dir: Annotated[
        Path | None, typer.Option(help="Write an AAM overlay per image and attribute here (a new folder).")
    ] = None,
    top: Annotated[int, typer.Option(help="Values shown per attribute.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Predict garment attributes with probabilities, and show where each one lives (AAMs)."""
    from PIL import Image

    from ..data.imaging import load_rgb
    from ..models.registry import load
    from ..usecases.images import expand_inputs
    from ..usecases.outputs import OutputFolder
    from ..usecases.predict import attention_maps, check_attrnet, predict_attributes

    if top < 1:
        raise InputError("must be at least 1", field="--top")
    paths = expand_inputs(images)
    folder = OutputFolder(aam_dir, "--aam-dir") if aam_dir is not None else None
    net = check_attrnet(load(model), model)
    results = []
    for path in paths:
        photo = load_rgb(path)
        pred = predict_attributes(net, photo, top)
        row = {"image": str(path), "attributes": {n: [list(v) for v in vals] for n, vals in pred.attributes.items()}}
        if pred.domain is not None and pred.domain.unusual:
            row["warning"] = pred.domain.message
        results.append(row)
        if folder is not None:
            stem = folder.stem(path)
            for name, overlay in attention_maps(net, photo, pred.heads).items():
                Image.fromarray(overlay).save(folder.path(f"{stem}-{name}.png"))
            row["aam"] = str(aam_dir)
    if as_json:
        print(json.dumps(results, indent=2))
        return
    for row in results:
        if "warning" in row:
            out.print(f"[yellow]warning:[/] {escape(row['image'])}: {escape(row['warning'])}", markup=True)
        t = Table(title=row["image"], show_header=True)
        t.add_column("attribute")
        t.add_column("prediction (probability)")
        for name, vals in row["attributes"].items():
            t.add_row(name, ", ".join(f"{v} ({p:.2f})" for v, p in vals))
        out.print(t)
    if aam_dir is not None:
        out.print(f"AAM overlays written to {aam_dir}")


@index_app.command("build")
def index_build(
    model: Annotated[str, typer.Option(help="Trained attribute network (run folder, export/ or asset:NAME).")],
    data: Annotated[
        Path,
        typer.Option(
            help="Dataset whose images go into the catalog (with --engine ray also a folder of images or a text "
            "file of image paths / URLs)."
        ),
    ],
    out_dir: Annotated[str, typer.Option("--out", help=f"The new catalog: {LOCATION}.")],
    split: Annotated[str | None, typer.Option(help="Comma-separated splits to index (default: all).")] = None,
    prototype_split: Annotated[str, typer.Option(help="Split whose images give the value prototypes.")] = "train",
    prototype_data: Annotated[
        Path | None,
        typer.Option(
            help="Dataset of the prototype images (default: --data); use the training set when indexing another set."
        ),
    ] = None,
    index: Annotated[
        str,
        typer.Option(
            help="Folder, per segment: auto (flat below 50k items, IVF above), flat, ivf or ivfpq. Milvus: auto "
            "(flat on Milvus Lite, HNSW on a server), flat, ivf or hnsw."
        ),
    ] = "auto",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
    engine: Annotated[
        str,
        typer.Option(
            help="local: this process; ray: Ray Data actors (a local Ray, or a cluster with --address), resumable: "
            "a re-run continues a killed build without embedding again what was written."
        ),
    ] = "local",
    actors: Annotated[int, typer.Option(help="--engine ray: embedding actors.")] = 2,
    address: Annotated[
        str | None, typer.Option(help="--engine ray: a Ray cluster (auto, ray://HEAD:10001); default: a local Ray.")
    ] = None,
    gpus_per_actor: Annotated[float, typer.Option(help="--engine ray: GPUs per actor on a cluster that has them.")] = 0,
) -> None:
    """Embed a dataset into a new searchable catalog."""
    if engine not in ("local", "ray"):
        raise InputError(f"unknown engine {engine!r}; valid: local, ray", field="--engine")
    if engine == "ray":
        from ..search.ray_embed import embed_with_ray, prepare_catalog

        if prototype_data is None and not (data / "dataset.json").is_file():
            raise InputError(
                "--engine ray on a folder of images or a list of URLs needs --prototype-data (a labelled dataset)",
                field="--prototype-data",
            )
        cat = prepare_catalog(
            model, out_dir, prototype_data=prototype_data or data, prototype_split=prototype_split, index_kind=index
        )
        try:
            stats = embed_with_ray(
                data, model, cat, batch_size=batch_size, actors=actors, address=address,
                splits=parse_list(split), gpus_per_actor=gpus_per_actor,
            )  # fmt: skip
            out.print(stats.summary())
            out.print(f"catalog {out_dir}: {len(cat)} items, index {cat.meta.get('index')}")
        finally:
            cat.close()
        return
    from ..search.build import build_catalog

    cat = build_catalog(
        model,
        data,
        out_dir,
        splits=parse_list(split),
        prototype_split=prototype_split,
        prototype_data=prototype_data,
        index_kind=index,
        batch_size=batch_size,
    )
    out.print(f"catalog {out_dir}: {len(cat)} items, index {cat.meta.get('index')}")
    cat.close()


@index_app.command("add")
def index_add(
    catalog: Annotated[str, typer.Argument(help=f"Existing catalog: {LOCATION}.")],
    data: Annotated[Path, typer.Option(help="Dataset whose images to add.")],
    split: Annotated[str | None, typer.Option(help="Comma-separated splits (default: all).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
) -> None:
    """Add a dataset's images to a catalog (crash-safe: a failed add leaves the catalog as it was, and
    running it again adds the items once)."""
    from ..search.build import add_to_catalog, load_model_for_search
    from ..search.locations import open_catalog

    cat = open_catalog(catalog)
    try:
        before = len(cat)
        model = load_model_for_search(cat.meta["model"])
        add_to_catalog(cat, model, data, splits=parse_list(split), batch_size=batch_size)
        out.print(f"catalog {catalog}: {before} -> {len(cat)} items")
    finally:
        cat.close()


def search(
    image: Annotated[Path | None, typer.Argument(help="Query image (omit with --attributes-only).")] = None,
    catalog: Annotated[str, typer.Option(help=f"The catalog (from `fashionlab index build`): {LOCATION}.")] = "catalog",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Wanted change, e.g. sleeve=long (repeatable, or comma-separated)."),
    ] = None,
    region: Annotated[str | None, typer.Option(help="Apply the change to this region only (sleeves).")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Only items with this attribute value, e.g. color=red or color=red|pink or sleeves.color=blue "
            "(repeatable: all must hold)."
        ),
    ] = None,
    k: Annotated[int, typer.Option(help="Results.")] = 10,
    method: Annotated[str, typer.Option(help="fsn (FashionSearchNet) or baseline (global features).")] = "fsn",
    attributes_only: Annotated[bool, typer.Option(help="Search by the --set attributes alone.")] = False,
    out_path: Annotated[Path | None, typer.Option("--out", help="Write a result strip PNG here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find catalog items like IMAGE, optionally with changed attributes ("this, but with long sleeves")."""
    from ..data.imaging import load_rgb
    from ..search.build import load_model_for_search
    from ..search.locations import open_catalog
    from ..search.query import Searcher
    from ..search.strip import result_strip
    from ..usecases.search import hit_dict, search_photo
    from .options import parse_kv

    changes = parse_kv([p for s in (set_ or []) for p in s.split(",") if p.strip()], "--set")
    if not attributes_only and image is None:
        raise InputError("give a query image (or --attributes-only with --set)", field="IMAGE")
    if out_path is not None and out_path.exists():
        raise OutputExistsError(f"{out_path} exists; choose another --out")
    filters = {name: value.split("|") for name, value in parse_kv(where or [], "--where").items()}
    cat = open_catalog(catalog)
    try:
        searcher = Searcher(cat, load_model_for_search(cat.meta["model"]))
        photo = None if attributes_only else load_rgb(image)
        hits = search_photo(searcher, photo, changes, k=k, region=region, method=method, where=filters)
    finally:
        cat.close()
    rows = [{**hit_dict(h), "image": h.item.image} for h in hits]
    if out_path is not None:
        result_strip(image, hits, out_path, title=", ".join(f"{a}={v}" for a, v in changes.items()))
    if as_json:
        print(
            json.dumps(
                {
                    "query": str(image) if image else None,
                    "changes": changes,
                    "region": region,
                    "where": filters,
                    "latency_ms": round(searcher.last_latency_ms, 3),
                    "results": rows,
                },
                indent=2,
            )
        )
        return
    t = Table(title=f"{image or 'attributes'} {changes or ''} ({searcher.last_latency_ms:.2f} ms)")
    for col in ("rank", "score", "id", "attributes"):
        t.add_column(col)
    for r in rows:
        own = [
            f"{region}: " + ", ".join(f"{a}={v}" for a, v in values.items())
            for region, values in (r.get("region_attributes") or {}).items()
        ]
        t.add_row(str(r["rank"]), f"{r['score']:.3f}", r["id"], "; ".join([", ".join(r["attributes"].values()), *own]))
    out.print(t)
    if out_path is not None:
        out.print(f"wrote {out_path}")
