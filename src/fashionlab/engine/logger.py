"""Run logs a person can read: ``stats.jsonl`` (one JSON object per logged step) and TensorBoard."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class RunLogger:
    """Writes scalars to ``stats.jsonl`` and TensorBoard (``tb/``); only on rank 0 (``enabled``)."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self._tb = None
        self._jsonl = None
        if enabled:
            self._jsonl = open(self.run_dir / "stats.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self._tb = SummaryWriter(str(self.run_dir / "tb"))
                except ImportError:  # tensorboard not installed: JSONL only
                    self._tb = None

    def log(self, step: int, scalars: dict[str, float], **extra: Any) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": round(time.time(), 3), **{k: float(v) for k, v in scalars.items()}, **extra}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, float(v), step)

    def image(self, tag: str, step: int, image_hwc) -> None:
        if self.enabled and self._tb is not None:
            self._tb.add_image(tag, image_hwc, step, dataformats="HWC")

    def close(self) -> None:
        if self._jsonl:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None


class ScalarMeans:
    """Sums of the scalars a training step returns, kept as (detached) tensors, so that no step waits for
    the device (no ``.item()`` per step); :meth:`means` turns them into numbers at log time only, as the
    mean over the logging interval (each key over the steps that returned it) and over all processes."""

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add(self, scalars: dict[str, Any]) -> None:
        for k, v in scalars.items():
            v = v.detach().float() if hasattr(v, "detach") else float(v)
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self, info=None) -> dict[str, float]:
        """The interval's means (over ranks when ``info`` is a distributed ``DistInfo``), then reset."""
        from .distributed import DistInfo, reduce_means

        sums = {k: float(v) for k, v in self.sums.items()}  # the one device sync per interval
        out = reduce_means(sums, self.counts, info or DistInfo())
        self.sums, self.counts = {}, {}
        return out


def read_stats(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "stats.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _timed_intervals(run_dir: str | Path) -> list[tuple[int, int, float]]:
    """``(first step, last step, seconds)`` of each logged interval of a run's ``stats.jsonl`` with a rate:
    its iterations over its ``it_per_s``, over every session in order (a row whose step is not past the
    previous one, as after resuming from an earlier checkpoint, adds no time)."""
    rows = [r for r in read_stats(run_dir) if "it_per_s" in r and r.get("it_per_s", 0) > 0]
    out, previous = [], 0
    for r in rows:
        step = int(r["step"])
        out.append((previous, step, max(step - previous, 0) / float(r["it_per_s"])))
        previous = step
    return out


def training_time(run_dir: str | Path) -> dict[str, float]:
    """``{"steps", "seconds", "s_per_iteration"}`` of a run from its ``stats.jsonl``: the time of each logged
    interval (its iterations over its ``it_per_s``), summed over every session (pauses between sessions do
    not count); NaN seconds for a run that logged no rates."""
    intervals = _timed_intervals(run_dir)
    if not intervals:
        return {"steps": 0, "seconds": float("nan"), "s_per_iteration": float("nan")}
    steps, seconds = intervals[-1][1], sum(t for _, _, t in intervals)
    return {"steps": steps, "seconds": seconds, "s_per_iteration": seconds / max(steps, 1)}


def training_time_at(run_dir: str | Path, step: int) -> float:
    """Seconds of training (as :func:`training_time` counts them) until the run first reached ``step``: the
    logged intervals before it plus the share of the interval that holds it; NaN when ``stats.jsonl`` has
    no rate up to ``step`` (no rates logged, or ``step`` past the last logged row)."""
    seconds = 0.0
    for first, last, t in _timed_intervals(run_dir):
        if last >= step > first:
            return seconds + t * (step - first) / (last - first)
        seconds += t
    return 0.0 if step <= 0 else float("nan")
