"""XingGAN: the crossing ("Xing") GAN for person image generation (Tang, Bai, Zhang, Torr,
Sebe; ECCV 2020): ``fashionlab train xinggan``.

The source image's appearance and the two poses' shape cross in nine Xing blocks (each stream updates the
other by a shared attention, :mod:`.reposing.attention`), and a co-attention fusion blends 20 RGB
candidates and the source image (:mod:`.reposing.networks`). Trained as the official code
(:mod:`.reposing.task`): two ResNet discriminators (on image + target pose, image + source image), L1 +
perceptual + GAN losses with the Market weights 50 / 50 / 5, Adam 2e-4.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .registry import register_model
from .reposing.networks import XingGenerator, XingGeneratorConfig
from .reposing.registration import infer_reposer, repose_tiny_setup, reposer_loader
from .reposing.task import ReposeConfig, ReposeTask


@dataclass
class XingganConfig(ReposeConfig):
    """XingGAN's options: the shared re-posing options plus ``model.generator``-style ``generator.*``."""

    generator: XingGeneratorConfig = field(default_factory=XingGeneratorConfig)


class XingganTask(ReposeTask):
    name = "xinggan"

    def build_generator(self, cfg: XingganConfig) -> XingGenerator:
        return XingGenerator(cfg.generator)


register_model(
    "xinggan",
    config=XingganConfig,
    task=XingganTask,
    load=reposer_loader("xinggan", XingGeneratorConfig, XingGenerator),
    infer=infer_reposer,
    tiny_setup=repose_tiny_setup,
    help="XingGAN pose transfer: crossing attention blocks, co-attention fusion, two discriminators (ECCV 2020)",
)
