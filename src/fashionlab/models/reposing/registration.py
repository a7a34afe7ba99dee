"""What ``xinggan``, ``patn`` and ``deform`` share in the model registry (:func:`register_reposer`): the inference
loader and main inference, and the tiny setup (a tiny pose-pair dataset and a tiny frozen attribute network for
the perceptual features)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...config import from_dict
from ...data.imaging import Preprocess
from .reposer import Reposer


def reposer_loader(kind: str, config_type: type, generator: Callable[[Any], nn.Module]):
    """``ModelSpec.load`` for a re-posing model: an untrained :class:`Reposer` of an export's architecture."""

    def load(config: dict[str, Any], extra: dict[str, Any], preprocess: Preprocess) -> Reposer:
        return Reposer(
            kind,
            generator(from_dict(config_type, config)),
            preprocess,
            sigma=float(extra.get("sigma", 6.0)),
            keypoint_model=str(extra.get("keypoint_model", "")),
            keypoint_model_sha256=extra.get("keypoint_model_tensor_sha256"),
        )

    return load


def infer_reposer(model: Reposer, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The re-posed images ``(B, 3, H, W)`` of a batch of pose pairs (source image, both poses)."""
    return {"images": model.generate(batch["source_image"], batch["source_keypoints"], batch["target_keypoints"])}


def repose_tiny_setup(out: Path) -> list[str]:
    """A tiny pose-pair dataset (12 people x 3 poses at 32x16) and a 3-step attribute network."""
    from ...config import resolve_config
    from ...engine.trainer import Trainer
    from ...synth.generate import SynthConfig, generate_dataset
    from ..attrnet_task import AttrNetConfig
    from ..registry import build_task

    data = generate_dataset(
        out / "data", SynthConfig(n=36, size=(32, 16), poses_per_person=3, seed=3, workers=1), progress=False
    )
    cfg = resolve_config(
        AttrNetConfig, model="attrnet", preset="tiny", overrides=[f"data={data}", f"train.out={out / 'attrnet'}"]
    )
    run = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()
    return [f"data={data}", f"perceptual_network={run / 'export'}"]


def register_reposer(name: str, *, config: type, task: type, help: str) -> None:
    """Register a re-posing model: ``config`` (a ``ReposeConfig`` with its ``generator`` field) and ``task`` (a
    ``ReposeTask`` subclass with ``generator_type``) are all that differ between XingGAN, PATN and Deformable GAN."""
    from ..registry import register_model

    register_model(
        name,
        config=config,
        task=task,
        load=reposer_loader(name, type(config().generator), task.generator_type),
        infer=infer_reposer,
        tiny_setup=repose_tiny_setup,
        help=help,
    )
