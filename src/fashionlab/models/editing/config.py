"""The typed config of the attribute editors' shared training task (``fashionlab train stargan|amgan|ganimation|
sagan``): networks, loss weights, optimisers and the task's own settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ...engine.task import OptimizerConfig
from ...engine.trainer import TrainConfig
from .networks import DiscriminatorConfig, Generator, GeneratorConfig


@dataclass
class EditModelConfig:
    """``model.*``: the networks and which of AMGAN's parts are on."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    use_dc: bool = False  # AMGAN's crop discriminator D_C (half-size input, two layers fewer)
    crop_threshold: float = 0.5  # D_C's box: largest region of the mask above this fraction of its max
    cam_as_mask: bool = False  # ablation: the classifier's CAM replaces the learnt attention mask
    # the attention loss's map: the CAM of the "target" value (the paper), of the "source" value (where the
    # attribute's current value is evidenced: measured to cover the edit region far better, see
    # docs/benchmarks.md), their "union" (pixelwise max), or the "contrast" CAM(source) - CAM(target) (the
    # CAM of the logit difference: where the image shows its value rather than the target)
    cam_target: str = "target"
    # inference only: a named region (sleeves, torso, garment) is where the probe edits' masks are at least
    # this; the paper's 0.9 finds ~nothing with a soft mask, so an export carries the value measured for it
    # (bench/choose_region_threshold.py)
    region_threshold: float = 0.9

    def build_generator(self, code_dim: int) -> nn.Module:
        """The generator these settings describe (SaGAN's config builds its AMN + SAN pair instead)."""
        return Generator(code_dim, self.generator)

    def has_attention(self) -> bool:
        """Whether that generator gives a mask (SaGAN's always does: its SAN)."""
        return self.generator.attention


@dataclass
class EditLossWeights:
    """``loss.*``"""

    cls: float = 1.0  # lambda_cls: critics' attribute classification (real: D; fake: G)
    rec: float = 10.0  # lambda_rec: cycle reconstruction L1
    gp: float = 10.0  # lambda_gp: gradient penalty
    attention: float = 0.0  # lambda_a: |a - CAM|_1 (AMGAN: 10)
    perceptual: float = 0.0  # lambda_p: classifier conv5 L1 to a reference image (AMGAN: 20; 10 as an option)
    frozen_cls: float = 0.0  # the frozen classifier's CE of x* toward the target (not in the papers)
    # GANimation's lambda_mask (0.1): the mean of the generator's own mask (its keep mask A), forward and cycle
    # masks; with AMGAN's convention (a = 1 edited) it would push toward no edit (not in AMGAN)
    mask_l1: float = 0.0
    # GANimation's lambda_mask_smooth (1e-5): total variation of the own mask summed over every element
    # (batch, rows, columns), forward and cycle masks
    mask_smooth: float = 0.0
    identity: float = 0.0  # SaGAN's identity term |G(x, source code) - x|_1 (the re-implementation: 100)
    # total variation of the change x* - x (mean |neighbour difference|): penalises speckle and colour noise,
    # lets smooth recolouring through (not in the papers)
    change_tv: float = 0.0
    # sigma (pixels at the training size) of a Gaussian blur applied to every image a classification loss
    # reads: the critics' attribute heads (real and fake) and the frozen classifier (x* and the perceptual
    # reference); the adversarial heads and the gradient penalty still see the unblurred images. 0: off
    # (the papers). Their gradients then reach G low-passed, so speckle no longer buys classification
    # (not in the papers; see fashionlab.models.editing.lowpass)
    cls_blur: float = 0.0
    # the diagnostic "paired ceiling" (SynthFashion only, not a method): L1 between x* and the exact
    # re-render of the person with the target attributes (see fashionlab.models.editing.paired)
    paired: float = 0.0
    # how the per-attribute cross-entropies combine: "sum" (StarGAN's L_cls over several attributes; the
    # official code sums its BCE over every label) or "mean" (1/M of it)
    cls_reduction: str = "sum"


@dataclass
class EditOptim:
    """``optim.G.*`` and ``optim.D.*``: Adam 1e-4 (0.5, 0.999), linear decay over the second half."""

    G: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-4, betas=(0.5, 0.999)))
    D: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-4, betas=(0.5, 0.999)))


@dataclass
class EditGanConfig:
    """Everything ``fashionlab train stargan|amgan|ganimation|sagan`` needs."""

    data: str = ""  # dataset folder (fashionlab format) with attribute labels
    classifier: str = ""  # an attrnet export (or asset:NAME) at the generator's resolution: CAMs, features, labels
    image_size: int = 128  # training resolution (square)
    resize: str = "fit"  # fit, crop or stretch
    flip: bool = True  # random horizontal flips of the inputs
    n_critic: int = 5  # critic updates per generator update
    targets: str = (
        "one"  # "one" attribute changed per sample (AMGAN) or "permuted" batch labels (StarGAN's CelebA mode)
    )
    gp_every: int = 1  # lazy gradient penalty: every k critic updates, weighted k times (1: always)
    gp_precision: str = "fp32"  # the penalty's precision (bf16 double-backward is unstable)
    sample_images: int = 6  # validation images in each sample grid
    model: EditModelConfig = field(default_factory=EditModelConfig)
    loss: EditLossWeights = field(default_factory=EditLossWeights)
    optim: EditOptim = field(default_factory=EditOptim)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=200000, batch_size=16, ema=0.999, log_every=50, sample_every=2000)
    )
