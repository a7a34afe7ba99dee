"""``fashionlab eval edit`` and ``fashionlab eval compare``: score editors with the papers' protocols and,
on SynthFashion, against exact ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from ..errors import InputError, OutputExistsError

out = Console(highlight=False, soft_wrap=True)
eval_app = typer.Typer(help="Evaluate trained models.", no_args_is_help=True)

Evaluator = Annotated[
    Path, typer.Option(help="The independent attribute network that reads the edits (an attrnet export).")
]


def _load_editor(path: Path):
    from ..models.editing.editor import Editor
    from ..models.registry import load

    model = load(path)
    if not isinstance(model, Editor):
        raise InputError(f"this export is a {type(model).__name__}, not an editor", path=path)
    return model


def _load_evaluator(path: Path):
    from ..models.attrnet import AttrNet
    from ..models.registry import load

    model = load(path)
    if not isinstance(model, AttrNet):
        raise InputError("the evaluator must be an attribute network (an attrnet export)", path=path)
    return model


def _pct(v: float) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def report_table(reports) -> str:
    """One markdown table of edit reports (rows: methods)."""
    names = [k for k in reports[0].manipulation if k != "mean"]
    head = (
        ["method"]
        + [f"manip. {n}" for n in names]
        + ["manip. mean", "preservation", "edit success", "top-1", "top-30", "FID-like"]
        + ["GT L1", "GT PSNR", "GT SSIM", "GT SSIM outside", "mask IoU"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        gt = r.gt or {}
        row = [r.name] + [_pct(r.manipulation.get(n)) for n in names]
        row += [_pct(r.manipulation["mean"]), _pct(r.preservation["mean"]), _pct(r.success["mean"])]
        row += [f"{r.retrieval.get(1, float('nan')):.3f}", f"{r.retrieval.get(30, float('nan')):.3f}"]
        row += [f"{r.fid_like:.2f}"]
        row += [f"{gt['l1']['mean']:.4f}" if gt else "-", f"{gt['psnr']['mean']:.2f}" if gt else "-"]
        row += [f"{gt['ssim']['mean']:.4f}" if gt else "-", f"{gt['ssim_outside']['mean']:.4f}" if gt else "-"]
        row += [f"{r.attention_iou['mean']:.3f}" if r.attention_iou else "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _evaluation(data: Path, evaluator: Path, preprocess, split: str, limit: int, workers: int, progress: bool):
    from ..data.format import load_dataset
    from ..metrics.editing import EditEvaluation

    splits = load_dataset(data).schema.splits
    gallery = "train" if "train" in splits else split  # the retrieval gallery: real images, as many as there are
    return EditEvaluation(
        str(data),
        _load_evaluator(evaluator),
        preprocess,
        split=split,
        limit=limit,
        gallery_split=gallery,
        workers=workers,
        progress=progress,
    )


@eval_app.command("edit")
def eval_edit(
    model: Annotated[Path, typer.Option(help="A trained editor (amgan, stargan): run folder or export/.")],
    data: Annotated[Path, typer.Option(help="Dataset folder (SynthFashion adds the ground-truth metrics).")],
    evaluator: Evaluator,
    split: Annotated[str, typer.Option(help="Split whose images are edited.")] = "test",
    limit: Annotated[int, typer.Option(help="Images edited (each once per attribute).")] = 400,
    workers: Annotated[int, typer.Option(help="Processes rendering the ground truth.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report here.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Manipulation accuracy, preservation, edit success, top-k retrieval, FID-like and (SynthFashion)
    L1 / PSNR / SSIM to the exact ground truth and mask IoU with the edit region."""
    from ..metrics.editing import editor_method

    editor = _load_editor(model)
    ev = _evaluation(data, evaluator, editor.preprocess, split, limit, workers, progress)
    report, _, _ = ev.run(editor_method(editor), model.name)
    out.print(report_table([report]), markup=False)
    out.print(f"evaluator's own accuracy on the real images (the ceiling): {_fmt(ev.evaluator_accuracy)}")
    if report.unseen:
        u = report.unseen
        out.print(
            f"held-out target combinations ({u['n_edits']} edits): manipulation {_pct(u['manipulation'])}%, "
            f"success {_pct(u['success'])}%, GT SSIM {u['gt']['ssim']['mean']:.4f}"
        )
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2))


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {_pct(v)}%" for k, v in d.items())


@eval_app.command("compare")
def eval_compare(
    runs: Annotated[list[Path], typer.Argument(help="Trained editors (run folders or exports) to compare.")],
    data: Annotated[Path, typer.Option(help="Dataset folder (SynthFashion: with ground truth).")],
    evaluator: Evaluator,
    out_dir: Annotated[Path, typer.Option("--out", help="A new folder: comparison.md, grid.png, reports.json.")],
    split: Annotated[str, typer.Option(help="Split whose images are edited.")] = "test",
    limit: Annotated[int, typer.Option(help="Images edited (each once per attribute).")] = 400,
    grid_rows: Annotated[int, typer.Option(help="Edits shown in the grid.")] = 10,
    workers: Annotated[int, typer.Option(help="Processes rendering the ground truth.")] = 1,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """One markdown table (with the "identity" and "ground truth" rows, the floor and ceiling of each
    metric) and one image grid (rows: inputs; columns: ground truth, then each method)."""
    from PIL import Image

    from ..data.imaging import denormalise
    from ..metrics.editing import editor_method, ground_truth_method, identity_method
    from ..viz import image_grid

    if out_dir.exists() and any(out_dir.iterdir()):
        raise OutputExistsError(f"{out_dir} exists and is not empty; choose a new --out")
    editors = [(_name(r), _load_editor(r)) for r in runs]
    sizes = {e.preprocess for _, e in editors}
    if len(sizes) != 1:
        raise InputError(f"the editors expect different inputs ({sorted(map(str, sizes))}); compare like with like")
    ev = _evaluation(data, evaluator, editors[0][1].preprocess, split, limit, workers, progress)
    reports, columns = [], []
    rows_shown = np.linspace(0, len(ev.plan.rows) - 1, min(grid_rows, len(ev.plan.rows))).round().astype(int)
    rep, _, _ = ev.run(identity_method, "identity")
    reports.append(rep)
    if ev.ground_truth:
        rep, outs, _ = ev.run(ground_truth_method(ev.targets_uint8), "ground truth")
        reports.append(rep)
        columns.append(outs[rows_shown])
    for name, editor in editors:
        rep, outs, _ = ev.run(editor_method(editor), name)
        reports.append(rep)
        columns.append(outs[rows_shown])
    out_dir.mkdir(parents=True, exist_ok=True)
    table = report_table(reports)
    names = ev.names
    caption = (
        f"{len(ev.plan.rows)} edits of {len(set(ev.plan.rows.tolist()))} {split} images of {data}; evaluator "
        f"{evaluator} (its accuracy on the real images: {_fmt(ev.evaluator_accuracy)}). Grid rows: "
        + "; ".join(
            f"{names[ev.plan.attributes[k]]} -> {ev.ds.specs[ev.plan.attributes[k]].values[ev.plan.values[k]]}"
            for k in rows_shown
        )
    )
    (out_dir / "comparison.md").write_text(table + "\n\n" + caption + "\n")
    (out_dir / "reports.json").write_text(json.dumps([r.to_dict() for r in reports], indent=2))
    inputs = denormalise(ev.images[ev.plan.rows[rows_shown]])
    grid = image_grid([[inputs[i], *(c[i] for c in columns)] for i in range(len(rows_shown))])
    Image.fromarray(grid).save(out_dir / "grid.png")
    out.print(table, markup=False)
    out.print(
        f"written: {out_dir / 'comparison.md'}, {out_dir / 'grid.png'} (columns: input, "
        + ("ground truth, " if ev.ground_truth else "")
        + ", ".join(n for n, _ in editors)
        + ")"
    )


def _name(path: Path) -> str:
    p = path.parent if path.name == "export" else path
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


@eval_app.command("region")
def eval_region(
    runs: Annotated[list[Path], typer.Argument(help="Trained editors (run folders or exports).")],
    data: Annotated[Path, typer.Option(help="A SynthFashion dataset folder (exact region ground truth).")],
    region: Annotated[list[str], typer.Option(help="sleeves and/or torso (repeat the option).")] = [  # noqa: B006
        "sleeves",
        "torso",
    ],
    setting: Annotated[str, typer.Option("--set", help="The edit, ATTRIBUTE=VALUE (color or pattern).")] = "color=red",
    region_threshold: Annotated[
        float, typer.Option(help="A found region is where its probe edit's mask is at least this (AMGAN: 0.9).")
    ] = 0.9,
    split: Annotated[str, typer.Option(help="Split whose images are edited.")] = "test",
    limit: Annotated[int, typer.Option(help="Images edited per region.")] = 200,
    workers: Annotated[int, typer.Option(help="Processes rendering the ground truth.")] = 1,
    out_dir: Annotated[Path | None, typer.Option("--out", help="A new folder: regions.md, grid-REGION.png.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Region-specific edits ("red sleeves only", "red torso, sleeves unchanged") against the exact
    re-render: each editor finding the region itself, given the exact region as a mask, and without a
    region, with the identity and ground-truth rows."""
    from PIL import Image

    from ..data.imaging import denormalise
    from ..metrics.region_edits import RegionEditEvaluation, region_table
    from ..viz import image_grid

    if "=" not in setting:
        raise InputError(f"expected ATTRIBUTE=VALUE, got {setting!r}", field="--set")
    attribute, value = (s.strip() for s in setting.split("=", 1))
    if out_dir is not None and out_dir.exists() and any(out_dir.iterdir()):
        raise OutputExistsError(f"{out_dir} exists and is not empty; choose a new --out")
    editors = [(_name(r), _load_editor(r)) for r in runs]
    if len({e.preprocess for _, e in editors}) != 1:
        raise InputError("the editors expect different inputs; compare like with like")
    text = []
    for reg in region:
        ev = RegionEditEvaluation(
            str(data), editors[0][1].preprocess, reg, attribute, value,
            split=split, limit=limit, workers=workers, progress=progress,
        )  # fmt: skip
        reports = [ev.reference("identity"), ev.reference("ground truth")]
        shown = slice(0, 8)
        columns = [denormalise(ev.images[shown]), ev.targets_uint8[shown]]
        for name, editor in editors:
            rep, images = ev.run(editor, name, threshold=region_threshold)
            reports.append(rep)
            columns += [images[w][shown] for w in rep.ways]
        table = region_table(reports)
        caption = f"{ev.setting}: {len(ev.rows)} {split} images of {data}."
        out.print(f"\n{caption}\n{table}", markup=False)
        text.append(f"### {ev.setting}\n\n{table}\n\n{caption}\n")
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            rows = [[c[i] for c in columns] for i in range(len(columns[0]))]
            Image.fromarray(image_grid(rows)).save(out_dir / f"grid-{reg}.png")
    if out_dir is not None:
        ways = ", ".join(
            f"{n} ({', '.join(['found'] * e.has_attention + ['exact mask', 'whole image'])})" for n, e in editors
        )
        (out_dir / "regions.md").write_text("\n".join(text) + f"\nGrid columns: input, ground truth, {ways}.\n")
        out.print(f"written: {out_dir / 'regions.md'} and the grids")
