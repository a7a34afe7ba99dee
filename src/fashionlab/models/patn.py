"""The PATN baseline (Zhu, Huang, Shi, Wang, Bai, Bai; CVPR 2019: progressive pose attention transfer):
``fashionlab train patn``.

The generator XingGAN was built from: the same two encoders, nine pose-attention transfer blocks (the
appearance state updated through the sigmoid of the shape stream, with a residual) and one RGB decoder
(:mod:`.reposing.networks`); trained by the same task, discriminators and losses as XingGAN
(:mod:`.reposing.task`), so that a comparison on the same budget says what the crossing blocks and the
fusion buy. The ``paper`` preset keeps PATN's own official Market weights (L1 10, perceptual 10, GAN 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .reposing.networks import PatnGenerator, PatnGeneratorConfig
from .reposing.registration import register_reposer
from .reposing.task import ReposeConfig, ReposeLossWeights, ReposeTask


@dataclass
class PatnConfig(ReposeConfig):
    """PATN's options: the shared re-posing options plus ``generator.*``; official Market loss weights."""

    generator: PatnGeneratorConfig = field(default_factory=PatnGeneratorConfig)
    loss: ReposeLossWeights = field(default_factory=lambda: ReposeLossWeights(l1=10.0, perceptual=10.0, gan=5.0))


class PatnTask(ReposeTask):
    name = "patn"
    generator_type = PatnGenerator


register_reposer(
    "patn",
    config=PatnConfig,
    task=PatnTask,
    help="PATN pose transfer baseline: pose-attention transfer blocks, same discriminators (CVPR 2019)",
)
