"""``fashionlab train MODEL``: train any registered model with presets, overrides and resume."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)


def train(
    model: Annotated[str, typer.Argument(help="Model name (see `fashionlab models`).")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.steps=500 model.backbone=resnet18.")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Dataset folder (sets `data`).")] = None,
    preset: Annotated[str | None, typer.Option(help="Preset name (cpu, paper, tiny) or a YAML file.")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue a run: a run folder, a checkpoint, or 'latest' (newest run of this model under --out)."
        ),
    ] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Parent of run folders (default runs/).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a model. Each run gets a new folder runs/MODEL/run-NNN (never overwritten) with config.json,
    run.json, stats.jsonl, TensorBoard events (tb/), samples/, checkpoints/ and, at the end, export/."""
    from ..config import dumps, from_dict, merge, parse_overrides, resolve_config
    from ..engine.checkpoint import find_checkpoint, load_checkpoint
    from ..engine.trainer import Trainer
    from ..models import MODELS, build_task

    spec = MODELS.get(model)
    ovr = list(overrides or [])
    if data is not None:
        ovr.append(f"data={data}")
    if out_dir is not None:
        ovr.append(f"train.out={out_dir}")
    resume_path = None
    if resume is not None:
        where = Path(out_dir or "runs") / model if resume == "latest" else Path(resume)
        resume_path = find_checkpoint(where)
        cfg = from_dict(spec.config, load_checkpoint(resume_path)["config"])
        if preset:
            out.print("note: --preset is ignored when resuming (the run's own config is used)")
        cfg = merge(cfg, parse_overrides(ovr)) if ovr else cfg
    else:
        cfg = resolve_config(spec.config, model=model, preset=preset, overrides=ovr)
    if dry_run:
        out.print(dumps(cfg), markup=False)
        return
    task = build_task(model, cfg)
    trainer = Trainer(
        task,
        cfg,
        train=cfg.train,
        resume=resume_path,
        progress=progress,
        argv=sys.argv,
        overrides=list(overrides or []),
    )
    run_dir = trainer.fit()
    if trainer.dist.is_main:
        out.print(f"run folder: {run_dir}  (export: {run_dir / 'export'})")


def models() -> None:
    """List the trainable models."""
    from ..models import MODELS

    for name in MODELS.names():
        out.print(f"{name:12s} {MODELS.help(name)}")
