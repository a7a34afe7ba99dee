"""``fashionlab eval pose``: score re-posing models (XingGAN, PATN) on a dataset's test pose pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from ..errors import InputError, OutputExistsError
from .evaluate import _load_evaluator, eval_app, split_label, training_table

out = Console(highlight=False, soft_wrap=True)


def _load_reposer(path: str):
    from ..models.registry import load
    from ..models.reposing.reposer import Reposer

    model = load(path)
    if not isinstance(model, Reposer):
        raise InputError(f"this export is a {type(model).__name__}, not a re-posing model (xinggan, patn)", path=path)
    return model


@eval_app.command("pose")
def eval_pose(
    models: Annotated[
        list[str],
        typer.Argument(help="Re-posing models (run folders, exports or asset:NAME); LABEL=PATH names a row."),
    ],
    data: Annotated[Path, typer.Option(help="A dataset with pose pairs (pairs-<split>.csv).")],
    keypoint_model: Annotated[
        str,
        typer.Option(
            help="The keypoint estimator run on the results (PCKh). Default: the shipped scorer trained on people "
            "disjoint from the re-posers' training data (the caption says whether the one given shares it)."
        ),
    ] = "asset:keypoints-synth128x64-eval",
    evaluator: Annotated[
        str | None,
        typer.Option(help="The independent attribute network (FID-like, preservation); 'none' skips both."),
    ] = "asset:attrnet-synthpose128-eval",
    split: Annotated[str, typer.Option(help="The split whose pairs are scored.")] = "test",
    pairs: Annotated[int, typer.Option(help="Pairs scored (a fixed seeded sample; 0: all).")] = 1000,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="A new folder: pose.md, grid.png, displacement.png, reports.json.")
    ] = None,
    source_pose: Annotated[
        str,
        typer.Option(
            help="annotated: the pairs' own source poses (the papers' protocol); estimated: found on the source "
            "picture by the keypoint estimator each model names (what `fashionlab pose` does with a photograph)."
        ),
    ] = "annotated",
    grid_rows: Annotated[int, typer.Option(help="Pairs shown in the grid.")] = 8,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch.")] = 32,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """SSIM, Mask-SSIM, L1, PCKh (keypoint model on the results), FID-like and garment-attribute
    preservation, with the identity (output = source) and ground-truth (output = target) rows."""
    from PIL import Image

    from ..data.imaging import denormalise
    from ..metrics.pose_eval import (
        PoseEvaluation,
        ground_truth_method,
        identity_method,
        pose_detail_tables,
        pose_table,
        reposer_method,
        scorer_note,
    )
    from ..models.keypoints import draw_skeleton
    from ..models.registry import load
    from ..viz import histogram, image_grid

    if source_pose not in ("annotated", "estimated"):  # before any model is loaded
        raise InputError(f"unknown source pose {source_pose!r}; valid: annotated, estimated", field="--source-pose")
    if out_dir is not None and out_dir.exists() and any(out_dir.iterdir()):
        raise OutputExistsError(f"{out_dir} exists and is not empty; choose a new --out")
    labels, paths = zip(*[split_label(m, field="models") for m in models], strict=True)
    loaded = [(m, _load_reposer(m)) for m in paths]
    names = [_name(m) for m in paths]
    if len(set(names)) < len(names):  # two run-001 of different folders: name them by their paths
        names = [str(m).removesuffix("/export").removesuffix("/") for m in paths]
    reposers = [(label or f"{r.kind} ({name})", r) for label, name, (_, r) in zip(labels, names, loaded, strict=True)]
    if len({name for name, _ in reposers}) < len(reposers):
        raise InputError("two rows have the same name; name them with LABEL=PATH", field="models")
    sizes = {tuple(r.preprocess.size) for _, r in reposers}
    if len(sizes) > 1:
        raise InputError(
            f"the models work at different sizes {sorted(sizes)}: compare models of one size", field="models"
        )
    size = sizes.pop()
    keypoint_net = load(keypoint_model)
    if not hasattr(keypoint_net, "predict_with_confidence"):
        raise InputError("--keypoint-model must be a keypoints export", path=keypoint_model)
    attr = None if evaluator in (None, "none") else _load_evaluator(evaluator)
    ev = PoseEvaluation(
        str(data), size, keypoint_net, attr, split=split, pairs=pairs, batch_size=batch_size, progress=progress
    )
    methods = [("identity (output = source)", identity_method), ("ground truth (output = target)", ground_truth_method)]
    methods += [(name, reposer_method(r, source_pose)) for name, r in reposers]
    reports = [ev.run(name, method) for name, method in methods]
    table = pose_table(reports)
    scorer = scorer_note(keypoint_model, [(name, m) for (name, _), (m, _) in zip(reposers, loaded, strict=True)]) + "."
    disp = {k: ev.displacement_summary().get(k, float("nan")) for k in ("mean", "median", "p10", "p90")}
    found = (
        " (found on the source picture by the keypoint estimator each model names)"
        if source_pose == "estimated"
        else ""
    )
    caption = (
        f"{reports[0].pairs} {split} pairs of {data.name} at {size[0]}x{size[1]}; keypoint displacement "
        f"source -> target in head sizes: mean {disp['mean']:.2f}, median {disp['median']:.2f}, "
        f"10-90% {disp['p10']:.2f}-{disp['p90']:.2f}. Source poses: {source_pose}{found}. "
        f"{scorer} FID-like and preservation with {evaluator}."
    )
    # training: iterations and hours of each model (its run's stats.jsonl, or what an export of a checkpoint
    # records), so checkpoints of one run at 1, 2 and 4 hours read as such
    timing = training_table([(name, Path(m)) for (name, _), (m, _) in zip(reposers, loaded, strict=True)])
    out.print(table)
    out.print(caption)
    out.print(timing)
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pose.md").write_text(
        table + "\n\n" + caption + "\n\n" + timing + "\n\n" + pose_detail_tables(reports) + "\n"
    )
    (out_dir / "reports.json").write_text(
        json.dumps(
            {
                "displacement": disp,
                "keypoint_model": keypoint_model,
                "scorer": scorer,
                "reports": [r.summary() for r in reports],
            },
            indent=2,
        )
    )
    shown = np.linspace(0, len(ev.order) - 1, min(grid_rows, len(ev.order))).round().astype(int)
    from ..data.loader import collate

    batch = collate([ev.dataset[int(ev.order[i])] for i in shown])
    blank = np.zeros((*size, 3), np.uint8)
    columns = [denormalise(batch["source_image"])]
    columns.append(np.stack([draw_skeleton(blank, k.numpy()) for k in batch["target_keypoints"]]))
    columns.append(denormalise(batch["target_image"]))
    columns += [denormalise(reposer_method(r, source_pose)(batch).float().cpu()) for _, r in reposers]
    grid = image_grid([[c[i] for c in columns] for i in range(len(shown))])
    Image.fromarray(grid).save(out_dir / "grid.png")
    title = "keypoint displacement source -> target (head sizes)"
    Image.fromarray(histogram(ev.displacement, 24, title)).save(out_dir / "displacement.png")
    names = ", ".join(n for n, _ in reposers)
    out.print(f"written: {out_dir / 'pose.md'}, {out_dir / 'grid.png'} (columns: source, target pose, target, {names})")


def _name(path: str) -> str:
    p = Path(path)
    if str(path).startswith("asset:"):
        return str(path)[6:]
    return p.parent.name + "/" + p.name if p.name == "export" else p.name
