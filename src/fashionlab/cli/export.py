"""``fashionlab export RUN``: the inference export of any checkpoint of a run (the latest, a step, or the last
one within some hours of training), usable by every command that takes a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)


def export(
    run: Annotated[Path, typer.Argument(help="A run folder (runs/MODEL/run-NNN), finished or still training.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="key=value changes to the run's config, e.g. data=PATH when the dataset has moved."),
    ] = None,
    step: Annotated[int | None, typer.Option(help="The checkpoint of this exact step (default: the latest).")] = None,
    hours: Annotated[
        float | None,
        typer.Option(help="The last checkpoint with at most this much training time (hours, from stats.jsonl)."),
    ] = None,
    data: Annotated[str | None, typer.Option(help="Dataset folder, when it is no longer where the run had it.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="A new or empty folder (default RUN/exports/step-NNNNNNN).")
    ] = None,
) -> None:
    """Export a checkpoint of a run as config.json + model.safetensors (the EMA weights where the run keeps
    an EMA, as the end-of-training export/). A run keeps its last train.keep_checkpoints checkpoints;
    train with train.keep_checkpoints=0 to keep them all."""
    from ..engine.export import read_export
    from ..usecases.export_checkpoint import export_checkpoint

    ovr = [*(overrides or []), *([f"data={data}"] if data is not None else [])]
    path = export_checkpoint(run, step=step, hours=hours, out=out_dir, overrides=ovr)
    ckpt = read_export(path)[0]["provenance"]["checkpoint"]
    seconds = ckpt["training_seconds"]
    trained = f" ({_duration(seconds)} of training)" if seconds is not None else ""
    out.print(f"exported step {ckpt['step']}{trained}: {path}")


def _duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``3.25 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"
