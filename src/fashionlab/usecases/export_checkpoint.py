"""The inference export of any checkpoint of a run, not only of its end (``fashionlab export RUN``).

A run writes ``export/`` when training finishes. :func:`export_checkpoint` makes the same export from one of
its checkpoints while it still trains, or after: the task is rebuilt from the checkpoint's own config (on
the CPU), the checkpoint's networks loaded, the EMA copies used where the checkpoint has some (exactly what
the trainer exports), and the result written by the task's own ``export`` into a new folder, with a
``provenance`` block that names the run, the step and the training time until then (from ``stats.jsonl``,
see :func:`.logger.training_time_at`). Every command that takes an export (``fashionlab.load``, ``eval``,
``edit``, ``pose``) takes it. Nothing in the run folder changes, except the default ``--out``,
``RUN/exports/step-NNNNNNN``.

A run keeps only its last ``train.keep_checkpoints`` checkpoints (2 by default); train with
``train.keep_checkpoints=0`` to keep them all, e.g. to compare methods at 1, 2 and 4 hours of training.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from ..config import from_dict, merge, parse_overrides
from ..engine.checkpoint import CKPT_DIR, list_checkpoints, load_checkpoint
from ..engine.export import add_provenance
from ..engine.logger import training_time_at
from ..engine.provenance import build_provenance
from ..engine.schedule import EMA
from ..engine.trainer import check_frozen_sources, load_nets
from ..errors import InputError, OutputExistsError

EXPORTS_DIR = "exports"


def pick_checkpoint(run_dir: str | Path, *, step: int | None = None, hours: float | None = None) -> tuple[int, Path]:
    """``(step, path)`` of a run's checkpoint: that of ``step`` exactly, or the last one trained for at most
    ``hours`` (cumulative training time from ``stats.jsonl``), or else the latest. An InputError naming the
    run (and listing the checkpoints there are) when there is none such."""
    run = Path(run_dir)
    if step is not None and hours is not None:
        raise InputError("give a step or a number of hours, not both", field="--step/--hours")
    found = list_checkpoints(run)
    if not found:
        raise InputError(f"this run has no checkpoint yet (nothing in {CKPT_DIR}/)", path=run)
    if step is not None:
        if step not in found:
            raise InputError(
                f"no checkpoint of step {step}; this run has steps {', '.join(map(str, found))}",
                path=run,
                field="--step",
            )
        return step, found[step]
    if hours is not None:
        times = {s: training_time_at(run, s) for s in found}
        if all(math.isnan(t) for t in times.values()):
            raise InputError("stats.jsonl logs no training rate (it_per_s), so no training time is known", path=run)
        within = [s for s, t in times.items() if t <= hours * 3600.0]
        if not within:
            shown = ", ".join(f"step {s}: {t / 3600:.3g} h" for s, t in times.items() if not math.isnan(t))
            raise InputError(f"no checkpoint within {hours:g} h of training ({shown})", path=run, field="--hours")
        return within[-1], found[within[-1]]
    last = max(found)
    return last, found[last]


def export_checkpoint(
    run_dir: str | Path,
    *,
    step: int | None = None,
    hours: float | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
) -> Path:
    """Export a checkpoint of the run folder ``run_dir`` (chosen by :func:`pick_checkpoint`) into ``out``, a
    new or empty folder (default ``run_dir/exports/step-NNNNNNN``); returns it. ``overrides``: ``key=value``
    changes to the checkpoint's config, e.g. ``data=PATH`` when the dataset the run was trained on (which
    the task is built from) has moved. Example::

        export_checkpoint("runs/stargan/run-001", hours=2, out="exports/stargan-2h")
    """
    from ..models import MODELS, build_task
    from .outputs import check_output_dir

    run = Path(run_dir)
    if not run.is_dir():
        raise InputError("no such run folder", path=run)
    if not (run / "config.json").is_file() or not (run / CKPT_DIR).is_dir():
        raise InputError(f"not a run folder (expected config.json and {CKPT_DIR}/)", path=run)
    chosen, ckpt_path = pick_checkpoint(run, step=step, hours=hours)
    out_dir = Path(out) if out is not None else run / EXPORTS_DIR / f"step-{chosen:07d}"
    check_output_dir(out_dir)
    state = load_checkpoint(ckpt_path)
    model = state.get("model")
    if model not in MODELS:
        raise InputError(f"checkpoint of unknown model {model!r}; known: {', '.join(MODELS.names())}", path=ckpt_path)
    cfg = from_dict(MODELS.get(model).config, state["config"])
    cfg = merge(cfg, parse_overrides([*(overrides or []), "train.device=cpu"]))
    data = getattr(cfg, "data", None)
    if data and not Path(data).is_dir():
        raise InputError(
            "the dataset this run was trained on is not there (moved?); the model is rebuilt from it: "
            "pass its new place with --data PATH (data=PATH)",
            path=data,
            field="data",
        )
    task = build_task(model, cfg)
    check_frozen_sources(task, state.get("frozen", {}), ckpt_path)
    load_nets(task, state["nets"], ckpt_path)
    task_states = state.get("task") or [{}]
    task.load_state_dict(task_states[0])
    nets = dict(task.nets)
    for name, ema_state in (state.get("ema") or {}).items():  # what Trainer.inference_nets gives the export
        if name not in nets:
            raise InputError(f"checkpoint has an EMA of {name!r}, which this model does not have", path=ckpt_path)
        copy = EMA(nets[name], 0.0).module
        copy.load_state_dict(ema_state)
        nets[name] = copy
    provenance = _provenance(run, chosen, ckpt_path, cfg)
    if overrides:  # what the export changed from the trained config (e.g. an inference-time content blur)
        provenance["export_overrides"] = list(overrides)
    return _write_new(out_dir, lambda tmp: add_provenance(task.export(tmp, nets), provenance))


def _provenance(run: Path, step: int, ckpt_path: Path, cfg: Any) -> dict[str, Any]:
    """:func:`.provenance.build_provenance` of the sessions that trained up to ``step``, plus ``checkpoint``:
    the run, the step, the file and the training seconds until then (None when stats.jsonl does not say)."""
    meta_path = run / "run.json"
    sessions = json.loads(meta_path.read_text()).get("sessions", []) if meta_path.is_file() else []
    used = [s for s in sessions if (s.get("resumed_from_step") or 0) < step] or sessions[:1]
    block = build_provenance(used, steps=step, seed=cfg.train.seed, data=getattr(cfg, "data", None))
    seconds = training_time_at(run, step)
    block["checkpoint"] = {
        "run": str(run.resolve()),
        "step": step,
        "file": f"{CKPT_DIR}/{ckpt_path.name}",
        "training_seconds": None if math.isnan(seconds) else round(seconds, 3),
    }
    return block


def _write_new(out_dir: Path, write) -> Path:
    """Call ``write(folder)`` on a temporary sibling of ``out_dir``, then rename it to ``out_dir`` (new or
    empty): a failed export leaves nothing behind and overwrites nothing."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        try:
            if out_dir.is_dir():
                out_dir.rmdir()  # empty (checked before): fails rather than delete anything made meanwhile
            tmp.rename(out_dir)
        except OSError:
            raise OutputExistsError(f"{out_dir} was made meanwhile; choose a new --out") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
