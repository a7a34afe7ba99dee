"""One registry of models: each entry holds a model's config, training task, inference loader and main
inference, registered where the model is defined (``register_model(...)`` at the bottom of its module).

``fashionlab train NAME`` builds ``spec.task(config)``; :func:`load` reads an export (``config.json`` +
``model.safetensors``) and rebuilds the model through ``spec.load``; the registry tests run every entry
from tiny data to an inference (``spec.tiny_setup``, ``spec.infer``). An unknown name is an error that
lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.imaging import Preprocess
from ..engine import distributed
from ..engine.export import check_reference, read_export
from ..engine.task import Task
from ..engine.trainer import seed_everything
from ..errors import InputError
from ..registry import Registry


def synth_tiny_data(out: Path) -> Path:
    """A tiny dataset: 48 SynthFashion items at 64 px, masks included."""
    from ..synth.generate import SynthConfig, generate_dataset

    return generate_dataset(out, SynthConfig(n=48, size=(64, 64), seed=2, workers=1), progress=False)


def synth_tiny_setup(out: Path) -> list[str]:
    """The default of ``ModelSpec.tiny_setup``: ``data=`` a tiny SynthFashion dataset."""
    return [f"data={synth_tiny_data(out / 'data')}"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything fashionlab knows about one model.

    - ``config``: its config dataclass (with a ``train: TrainConfig`` field and usually ``data``);
      presets are ``presets/NAME/{cpu,paper,tiny}.yaml``.
    - ``task``: ``config -> Task`` (the training task).
    - ``load``: ``(config dict, extra dict, Preprocess) -> nn.Module``: an untrained model of an export's
      architecture, with ``load_exported({net: state_dict})`` to take its weights (or ``load_state_dict``
      of the ``"model"`` net).
    - ``infer``: ``(loaded model, training batch) -> {name: tensor}``: the model's main inference, as a
      user calls it (the registry tests run it after a round trip through the export).
    - ``tiny_setup``: ``folder -> ["key=value", ...]``: makes what a tiny run of this model needs (a small
      dataset, a frozen helper network...) in ``folder`` and returns the overrides that point to it.
    """

    name: str
    config: type
    task: Callable[[Any], Task]
    load: Callable[[dict[str, Any], dict[str, Any], Preprocess], nn.Module]
    infer: Callable[[nn.Module, dict[str, Any]], dict[str, torch.Tensor]]
    help: str = ""
    tiny_setup: Callable[[Path], list[str]] = synth_tiny_setup


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    name: str,
    *,
    config: type,
    task: Callable[[Any], Task],
    load: Callable[[dict[str, Any], dict[str, Any], Preprocess], nn.Module],
    infer: Callable[[nn.Module, dict[str, Any]], dict[str, torch.Tensor]],
    help: str,
    tiny_setup: Callable[[Path], list[str]] = synth_tiny_setup,
) -> ModelSpec:
    """Add a model to :data:`MODELS` (call it once, in the module that defines the model)."""
    spec = ModelSpec(name, config, task, load, infer, help, tiny_setup)
    MODELS.register(name, help=help)(spec)
    return spec


def build_task(name: str, cfg: Any) -> Task:
    """The training task of model ``name`` for ``cfg``. Every RNG is seeded from ``cfg.train.seed`` first
    (the initial weights follow from the seed, identically on every rank); under torchrun, rank 0 builds
    the task first (and with it the dataset's packed cache), then the others open what it made."""
    spec = MODELS.get(name)
    info = distributed.setup(cfg.train.device)
    with distributed.main_process_first(info):
        seed_everything(cfg.train.seed)
        return spec.task(cfg)


ASSETS = Path(__file__).resolve().parents[1] / "assets"


def model_path(path: str | Path) -> Path:
    """``asset:NAME`` -> the shipped model ``src/fashionlab/assets/NAME``; anything else as a path."""
    text = str(path)
    if text.startswith("asset:"):
        name = text.split(":", 1)[1]
        if not (ASSETS / name).is_dir():
            shipped = ", ".join(sorted(p.name for p in ASSETS.iterdir() if p.is_dir()))
            raise InputError(f"no shipped model {name!r}; shipped: {shipped}", field=text)
        return ASSETS / name
    return Path(path)


def shipped_asset_name(path: str | Path | None) -> str | None:
    """The NAME of ``asset:NAME`` when ``path`` is a shipped model's folder (or its export), else None."""
    if path is None:
        return None
    p = Path(path).resolve()
    return p.name if p.parent == ASSETS.resolve() else None


def load(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    tensor_sha256: str | None = None,
    file_sha256: str | None = None,
    what: str = "the referenced network",
) -> nn.Module:
    """Load an exported model (an export folder, a run folder with ``export/``, or ``asset:NAME`` for a
    shipped one), ready for inference (eval mode, on ``device``); ``model.preprocess`` says what input it
    expects. Weights stored in fp16 are loaded as fp32.

    ``tensor_sha256`` (or, from exports older than tensor hashes, ``file_sha256``): how another export
    references this network; a different network is refused with an InputError that names it as ``what``
    (see :func:`fashionlab.engine.export.check_reference`)."""
    path = model_path(path)
    meta, states = read_export(path)
    check_reference(path, meta, states, what, tensor_sha256, file_sha256)
    kind = meta["kind"]
    if kind not in MODELS:
        raise InputError(
            f"this export is of kind {kind!r}, which this fashionlab does not know; known: {', '.join(MODELS.names())}",
            path=path,
        )
    spec = MODELS.get(kind)
    model = spec.load(meta.get("config", {}), meta.get("extra", {}), meta["preprocess"])
    try:
        if hasattr(model, "load_exported"):
            model.load_exported(states)
        else:
            model.load_state_dict(states["model"])
    except (KeyError, RuntimeError) as e:
        raise InputError(f"the weights do not fit a {kind} of this config ({str(e)[:300]})", path=path) from None
    return model.to(device).eval()
