"""Trainable models by name: ``MODELS.get("attrnet")`` gives its config class and training task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    config: type  # the config dataclass (with .train)
    task: Callable[[Any], Any]  # config -> Task


MODELS: Registry = Registry("model")


def build_task(name: str, cfg: Any):
    """The training task of model ``name`` for ``cfg``, with every RNG seeded from ``cfg.train.seed``
    first (so the initial weights, and hence the whole run, follow from the seed)."""
    from ..engine.trainer import seed_everything

    seed_everything(cfg.train.seed)
    return MODELS.get(name).task(cfg)


def _register_builtin() -> None:
    from .attrnet_task import AttrNetConfig, AttrNetTask

    MODELS.register("attrnet", help="FashionSearchNet attribute network with localisation (AAMs)")(
        ModelSpec(AttrNetConfig, AttrNetTask)
    )


_register_builtin()
