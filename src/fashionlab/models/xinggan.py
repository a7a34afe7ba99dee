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

from .reposing.networks import XingGenerator, XingGeneratorConfig
from .reposing.registration import register_reposer
from .reposing.task import ReposeConfig, ReposeTask


@dataclass
class XingganConfig(ReposeConfig):
    """XingGAN's options: the shared re-posing options plus ``generator.*``."""

    generator: XingGeneratorConfig = field(default_factory=XingGeneratorConfig)


class XingganTask(ReposeTask):
    name = "xinggan"
    generator_type = XingGenerator


register_reposer(
    "xinggan",
    config=XingganConfig,
    task=XingganTask,
    help="XingGAN pose transfer: crossing attention blocks, co-attention fusion, two discriminators (ECCV 2020)",
)
