"""SaGAN: Generative Adversarial Network with Spatial Attention for Face Attribute Editing (Zhang et al., ECCV
2018), made multi-domain as AMGAN's third baseline: ``fashionlab train sagan``.

Two networks make the generator (:class:`fashionlab.models.editing.networks.SaganGenerator`): an attribute
manipulation network AMN (image + tiled manipulation code in, image out: StarGAN's generator without
attention) and a separate spatial attention network SAN (one-channel sigmoid mask ``m``); the output is
``m * AMN(x, c) + (1 - m) * x`` (``m = 1``: edited, AMGAN's convention). The critic is the shared PatchGAN
with an attribute-classification head.

The SAN sees the code too by default (``model.san_takes_code``): the paper's SAN takes the image alone
because each of its models edits one binary attribute, so the region is implied; one multi-domain SAN
without the code gives one mask for every attribute (sleeves, collar, colour...), so it cannot open the
region of the attribute being changed. ``model.san_takes_code=false`` restores the image-only SAN.

No official code exists; losses and settings are those of the public re-implementation
(elvisyjlin/SpatialAttentionGAN, ``train.py``), with its single binary attribute replaced by the shared
attribute code and cross-entropy (its BCE on one attribute, weight 1 for the critic and the generator):
WGAN-GP (10); reconstruction ``loss.rec`` 20 x |G(G(x, c'), c) - x|_1 (the cycle) + ``loss.identity`` 100 x
|G(x, c) - x|_1 (the source code gives the input back) *(these two weights are unconfirmed against the
paper; both are config)*; Adam 2e-4 (0.5, 0.999), constant; batch 16; 3 critic steps per generator step
(``n_critic`` 3), the generator on a fresh batch as there. Targets: one attribute changed per sample to
another value (``targets: one``), the multi-domain form of its ``1 - label``.

Departures from the re-implementation: its AMN and SAN are one network shape (32 wide, three stride-2
downsamplings, 4 residual blocks with batch norm, biases, N(0, 0.02) init); here the AMN is StarGAN's
generator (the same as the other editors') and the SAN the same encoder-decoder at its own size
(``model.san.*``); its critic (32 to 1024 channels, 6 layers) is the shared one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..engine.task import OptimizerConfig
from ..engine.trainer import TrainConfig
from .editing.config import EditGanConfig, EditLossWeights, EditModelConfig, EditOptim
from .editing.editor import infer_editor, load_editor
from .editing.networks import SaganGenerator, SanConfig
from .editing.task import EditGanTask
from .registry import register_model


@dataclass
class SaganModelConfig(EditModelConfig):
    """``model.*``: ``generator`` is the AMN (no attention head), ``san`` the spatial attention network."""

    san: SanConfig = field(default_factory=SanConfig)
    san_takes_code: bool = True  # the SAN also sees the tiled code (one multi-domain SAN; the paper: image only)

    def build_generator(self, code_dim: int) -> nn.Module:
        return SaganGenerator(code_dim, self.generator, self.san, self.san_takes_code)

    def has_attention(self) -> bool:
        return True


def _adam(lr: float) -> OptimizerConfig:
    return OptimizerConfig(lr=lr, betas=(0.5, 0.999), lr_decay_start=1.0)


@dataclass
class SaganConfig(EditGanConfig):
    """SaGAN's defaults (the ``paper`` preset): AMN + SAN, cycle 20, identity 100, classification 1, GP 10,
    n_critic 3, Adam 2e-4 (0.5, 0.999) constant, 62,500 iterations (the re-implementation's 1,000 kimg of
    critic batches of 16)."""

    n_critic: int = 3
    model: SaganModelConfig = field(default_factory=SaganModelConfig)
    loss: EditLossWeights = field(default_factory=lambda: EditLossWeights(cls=1.0, rec=20.0, gp=10.0, identity=100.0))
    optim: EditOptim = field(default_factory=lambda: EditOptim(G=_adam(2e-4), D=_adam(2e-4)))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=62500, batch_size=16, ema=0.999, log_every=100, sample_every=5000)
    )


class SaganTask(EditGanTask):
    name = "sagan"


register_model(
    "sagan",
    config=SaganConfig,
    task=SaganTask,
    load=lambda config, extra, preprocess: load_editor("sagan", config, extra, preprocess, SaganModelConfig),
    infer=infer_editor,
    help="SaGAN attribute editor: manipulation network + separate spatial attention network (ECCV 2018)",
)
