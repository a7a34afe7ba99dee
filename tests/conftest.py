"""Fixtures and helpers shared by several test files."""

from __future__ import annotations

import os
import signal

import pytest


def signal_after_step(monkeypatch, task, step: int, sig: int = signal.SIGINT) -> None:
    """Make ``task`` send ``sig`` to its own process right after training step ``step`` (0-based): a user
    pressing Ctrl-C (SIGINT) or a scheduler ending the job (SIGTERM) in the middle of a run."""
    original = task.train_step

    def step_then_signal(ctx):
        out = original(ctx)
        if ctx.step == step:
            os.kill(os.getpid(), sig)
        return out

    monkeypatch.setattr(task, "train_step", step_then_signal)


@pytest.fixture(scope="session")
def tiny_amgan(tmp_path_factory):
    """A tiny dataset, a tiny frozen attribute network and an AMGAN trained 2 steps on them:
    {"data", "classifier", "run"} paths (shared by the editing, edit-CLI and evaluation tests)."""
    from fashionlab.config import resolve_config
    from fashionlab.engine.trainer import Trainer
    from fashionlab.models import MODELS, build_task
    from fashionlab.models.amgan import amgan_tiny_setup

    base = tmp_path_factory.mktemp("tiny-amgan")
    over = amgan_tiny_setup(base)
    cfg = resolve_config(
        MODELS.get("amgan").config,
        model="amgan",
        preset="tiny",
        overrides=[*over, f"train.out={base / 'runs'}", "train.steps=2", "train.ckpt_every=0"],
    )
    run = Trainer(build_task("amgan", cfg), cfg, train=cfg.train, progress=False).fit()
    return {**dict(o.split("=", 1) for o in over), "run": run, "base": base}
