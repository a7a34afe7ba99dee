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

Evaluators = Annotated[
    list[str] | None,
    typer.Option(
        "--evaluator",
        help="An independent attribute network that reads the edits (an attrnet or attrclf export, or "
        "asset:NAME); repeat for several (the first also gives retrieval and FID-like). Default: the shipped "
        "evaluators that fit the editor (asset:*-eval). One that an editor was trained with is refused.",
    ),
]


def _load_editor(path: Path):
    from ..models.editing.editor import Editor
    from ..models.registry import load

    model = load(path)
    if not isinstance(model, Editor):
        raise InputError(f"this export is a {type(model).__name__}, not an editor", path=path)
    return model


def _load_evaluator(path: str | Path):
    from ..models.registry import load

    model = load(path)
    if not all(hasattr(model, k) for k in ("attributes", "preprocess", "predict")):
        raise InputError("the evaluator must be an attribute network (an attrnet or attrclf export)", path=path)
    return model


def _evaluators(paths: list[str] | None, editors: list[tuple[str, object, Path]]) -> dict[str, object]:
    """``{label: network}`` of the evaluators (the given ones, else the shipped ones that fit), each checked
    not to be the classifier any of ``editors`` (name, editor, path) was trained with."""
    from ..metrics.evaluators import check_independent, default_evaluators

    first = editors[0][1]
    if not paths:
        paths = default_evaluators(first.preprocess.size, first.space.names)
        if not paths:
            raise InputError(
                "no shipped evaluator fits these editors' size and attributes; give one with --evaluator "
                "(train one with `fashionlab train attrclf` or `fashionlab train attrnet` on other renders)",
                field="evaluator",
            )
    out: dict[str, object] = {}
    for p in paths:
        model = _load_evaluator(p)
        check_independent(editors, model, p)
        out[str(p)] = model
    return out


def _pct(v: float) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _evaluator_labels(reports) -> dict[str, str]:
    return {k: f"E{i + 1}" for i, k in enumerate(reports[0].by_evaluator)}


def report_table(reports) -> str:
    """Markdown tables of edit reports (rows: methods): what each evaluator reads (manipulation per
    attribute and mean, preservation, success, success relative to the ground truth's under the same
    evaluator; retrieval and FID-like from the first), then, on SynthFashion, the pixels against the exact
    truth (L1, PSNR, SSIM, SSIM outside the edit region, edit gain, mask IoU), and a legend."""
    names = [k for k in reports[0].manipulation if k != "mean"]
    labels = _evaluator_labels(reports)
    truth = next((r for r in reports if r.name == "ground truth"), None)
    head = ["method"]
    for e in labels.values():
        head += [f"{e} manip. {n}" for n in names]
        head += [f"{e} manip. mean", f"{e} preservation", f"{e} success", f"{e} success / GT's"]
    head += ["top-1", "top-10", "top-30", "FID-like"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        row = [r.name]
        for k in labels:
            b = r.by_evaluator[k]
            row += [_pct(b["manipulation"].get(n)) for n in names]
            row += [_pct(b["manipulation"]["mean"]), _pct(b["preservation"]["mean"]), _pct(b["success"]["mean"])]
            ref = truth.by_evaluator[k]["success"]["mean"] if truth is not None else float("nan")
            row += [_pct(b["success"]["mean"] / ref) if ref and np.isfinite(ref) else "-"]
        row += [f"{r.retrieval.get(k, float('nan')):.3f}" for k in (1, 10, 30)]
        row += [f"{r.fid_like:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines)
    if any(r.gt for r in reports):
        text += "\n\n" + pixel_table(reports, names)
    legend = "; ".join(f"{e} = {k} ({reports[0].by_evaluator[k]['family']})" for k, e in labels.items())
    return text + f"\n\nEvaluators: {legend}."


def pixel_table(reports, names: list[str]) -> str:
    """Against the exact re-render: L1, PSNR, SSIM, SSIM outside the edit region; edit gain (share of edits
    closer to the truth than the input inside the region, per attribute and mean; the error removed there;
    mean error inside for output and input and outside, grey levels) and the mask's IoU with the region."""
    head = ["method", "GT L1", "GT PSNR", "GT SSIM", "GT SSIM outside"]
    head += [f"closer {n}" for n in names] + ["closer mean", "error removed", "inside error (input)", "outside error"]
    head += ["mask IoU"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        gt = r.gt
        if not gt:
            continue
        row = [r.name, f"{gt['l1']['mean']:.4f}", f"{gt['psnr']['mean']:.2f}", f"{gt['ssim']['mean']:.4f}"]
        row += [f"{gt['ssim_outside']['mean']:.4f}"]
        row += [_pct(gt["closer"].get(n)) for n in names] + [_pct(gt["closer"]["mean"])]
        row += [_pct(gt["error_removed"]["mean"])]
        row += [f"{gt['inside_error']['mean']:.1f} ({gt['inside_error_input']['mean']:.1f})"]
        row += [f"{gt['outside_error']['mean']:.2f}"]
        row += [f"{r.attention_iou['mean']:.3f}" if r.attention_iou else "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _contrast(editors: list) -> tuple[str, str, str] | None:
    """The one contrast (attribute, a, b) of the two-value editors among ``editors`` (ResGAN), which then
    restricts every method's edits to it; None when there is none."""
    found = {e.contrast.names() for e in editors if getattr(e, "contrast", None) is not None}
    if len(found) > 1:
        raise InputError(f"these editors learnt different contrasts ({sorted(found)}); compare like with like")
    return found.pop() if found else None


def _evaluation(
    data: Path, evaluators: dict, preprocess, split: str, limit: int, workers: int, progress: bool, contrast=None
):
    from ..data.format import load_dataset
    from ..metrics.editing import EditEvaluation

    ds = load_dataset(data)
    counts = {s: sum(1 for it in ds.items if it.split == s) for s in ds.schema.splits}
    # the retrieval gallery: real images, as many as there are (the train split, else the edited split itself)
    gallery = "train" if counts.get("train") else split
    return EditEvaluation(
        str(data),
        evaluators,
        preprocess,
        split=split,
        limit=limit,
        gallery_split=gallery,
        workers=workers,
        progress=progress,
        contrast=contrast,
    )


@eval_app.command("edit")
def eval_edit(
    model: Annotated[
        Path, typer.Option(help="A trained editor (amgan, stargan, ganimation, sagan, resgan): run folder or export/.")
    ],
    data: Annotated[Path, typer.Option(help="Dataset folder (SynthFashion adds the ground-truth metrics).")],
    evaluator: Evaluators = None,
    split: Annotated[str, typer.Option(help="Split whose images are edited.")] = "test",
    limit: Annotated[int, typer.Option(help="Images edited (each once per attribute).")] = 400,
    workers: Annotated[int, typer.Option(help="Processes rendering the ground truth.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report here.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Manipulation accuracy, preservation, edit success (under each evaluator, and relative to the ground
    truth's), top-k retrieval, FID-like and (SynthFashion) L1 / PSNR / SSIM to the exact ground truth, edit
    gain and mask IoU with the edit region; the identity and ground-truth rows give the scale."""
    from ..metrics.editing import editor_method, ground_truth_method, identity_method

    editor = _load_editor(model)
    evaluators = _evaluators(evaluator, [(_name(model), editor, model)])
    ev = _evaluation(data, evaluators, editor.preprocess, split, limit, workers, progress, _contrast([editor]))
    reports = [ev.run(identity_method, "identity")[0]]
    if ev.ground_truth:
        reports.append(ev.run(ground_truth_method(ev.targets_uint8), "ground truth")[0])
    report, _, _ = ev.run(editor_method(editor), _name(model))
    reports.append(report)
    out.print(report_table(reports), markup=False)
    for k, acc in ev.evaluator_accuracy_by.items():
        out.print(f"{k}: its own accuracy on the real images (the ceiling): {_fmt(acc)}")
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
    runs: Annotated[
        list[str],
        typer.Argument(help="Trained editors (run folders or exports) to compare; LABEL=PATH names a row."),
    ],
    data: Annotated[Path, typer.Option(help="Dataset folder (SynthFashion: with ground truth).")],
    out_dir: Annotated[Path, typer.Option("--out", help="A new folder: comparison.md, grid.png, reports.json.")],
    split: Annotated[str, typer.Option(help="Split whose images are edited.")] = "test",
    limit: Annotated[int, typer.Option(help="Images edited (each once per attribute).")] = 400,
    grid_rows: Annotated[int, typer.Option(help="Edits shown in the grid.")] = 10,
    workers: Annotated[int, typer.Option(help="Processes rendering the ground truth.")] = 1,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    evaluator: Evaluators = None,
) -> None:
    """One markdown table (with the "identity" and "ground truth" rows, the floor and ceiling of each
    metric) and one image grid (rows: inputs; columns: ground truth, then each method)."""
    from PIL import Image

    from ..data.imaging import denormalise
    from ..metrics.editing import editor_method, ground_truth_method, identity_method
    from ..viz import image_grid

    if out_dir.exists() and any(out_dir.iterdir()):
        raise OutputExistsError(f"{out_dir} exists and is not empty; choose a new --out")
    labelled = [_labelled(r) for r in runs]
    paths = [p for _, p in labelled]
    editors = [(label, _load_editor(p)) for label, p in labelled]
    if len({n for n, _ in editors}) != len(editors):
        raise InputError("two rows have the same name; name them with LABEL=PATH", field="runs")
    sizes = {e.preprocess for _, e in editors}
    if len(sizes) != 1:
        raise InputError(f"the editors expect different inputs ({sorted(map(str, sizes))}); compare like with like")
    evaluators = _evaluators(evaluator, [(n, e, r) for (n, e), r in zip(editors, paths, strict=True)])
    contrast = _contrast([e for _, e in editors])
    ev = _evaluation(data, evaluators, editors[0][1].preprocess, split, limit, workers, progress, contrast)
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
        f"{len(ev.plan.rows)} edits of {len(set(ev.plan.rows.tolist()))} {split} images of {data}; evaluators: "
        + "; ".join(f"{k} (its accuracy on the real images: {_fmt(a)})" for k, a in ev.evaluator_accuracy_by.items())
        + ". Grid rows: "
        + "; ".join(
            f"{names[ev.plan.attributes[k]]} -> {ev.ds.specs[ev.plan.attributes[k]].values[ev.plan.values[k]]}"
            for k in rows_shown
        )
    )
    timing = training_table([(n, p) for (n, _), p in zip(editors, paths, strict=True)])
    (out_dir / "comparison.md").write_text(table + "\n\n" + timing + "\n\n" + caption + "\n")
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


def split_label(arg: str, field: str = "runs") -> tuple[str | None, str]:
    """``LABEL=PATH`` -> (label, path); a plain path or ``asset:NAME`` (or an existing path with "=" in it) ->
    (None, it). An empty label is refused."""
    if "=" in arg and not Path(arg).exists():
        label, path = arg.split("=", 1)
        if not label.strip():
            raise InputError(f"empty row label in {arg!r}; expected LABEL=PATH", field=field)
        return label.strip(), path.strip()
    return None, arg


def _labelled(arg: str) -> tuple[str, Path]:
    """``LABEL=PATH`` or ``PATH`` -> (row name, path)."""
    label, path = split_label(arg)
    return label or _name(Path(path)), Path(path)


def _checkpoint_provenance(path: Path) -> dict:
    """The ``provenance.checkpoint`` block of an export made by ``fashionlab export`` ({} otherwise)."""
    from ..engine.export import export_meta

    return (export_meta(path).get("provenance") or {}).get("checkpoint") or {}


def training_table(rows: list[tuple[str, Path]]) -> str:
    """Markdown: per editor, the iterations trained, seconds per iteration and hours (from a run folder's
    stats.jsonl, or the step and training time an export of a checkpoint records; "-" for a bare export)."""
    from ..engine.export import export_dir
    from ..engine.logger import training_time
    from ..models.registry import model_path

    lines = ["| method | iterations | s/iteration | training hours |", "|---|---|---|---|"]
    for name, path in rows:
        path = model_path(path) if str(path).startswith("asset:") else path  # a shipped model's own folder
        run = path.parent if export_dir(path) == path and path.name == "export" else path
        t = training_time(run)
        at = _checkpoint_provenance(path)  # an export of a checkpoint (fashionlab export) knows its own time
        if at.get("step") and at.get("training_seconds"):
            t = {"steps": at["step"], "seconds": at["training_seconds"]}
            t["s_per_iteration"] = t["seconds"] / max(t["steps"], 1)
        if not t["steps"]:
            lines.append(f"| {name} | - | - | - |")
            continue
        lines.append(f"| {name} | {t['steps']:,} | {t['s_per_iteration']:.3f} | {t['seconds'] / 3600:.2f} |")
    return "\n".join(lines)


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
        float | None,
        typer.Option(
            help="A found region is where its probe edits' masks are at least this "
            "[default: each model's own; AMGAN's paper: 0.9]."
        ),
    ] = None,
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
