"""GANimation (Pumarola et al., ECCV 2018) as an attribute editor, AMGAN's second baseline:
``fashionlab train ganimation``.

StarGAN's generator body with two 7x7 heads, a colour image C (tanh) and an attention mask A (sigmoid); the
output is ``A * x + (1 - A) * C``, so **A = 1 keeps the input** (the official code's form; v1 of the paper
wrote it the other way), the opposite of AMGAN's mask. The generator returns A; the editing task and the
editor turn it into the edit mask ``1 - A`` wherever a mask is compared, cropped, shown, returned
(``Editor.generate``) or given as a region (a region r, 1 = edit here, becomes A = 1 - r): see
:mod:`fashionlab.models.editing.networks` (``GeneratorConfig.attention_keeps``).

Losses, with the official code's options (albertpumarola/GANimation, ``options/train_options.py``):
WGAN-GP (lambda_D_gp 10, lambda_D_prob 1), cycle L1 10 (x* edited back with the source code; the critic
and the cycle see the masked output), ``loss.mask_l1`` 0.1 x the mean of A and ``loss.mask_smooth`` 1e-5 x
the total variation of A summed over every element, each for the forward and the cycle masks (the official
reductions: :mod:`fashionlab.losses.attention`); Adam 1e-4 (0.5, 0.999); G every 5 iterations; the official
schedule keeps the lr for 20 epochs and decays it linearly to 0 over 10 more (``lr_decay_start`` 2/3).

Classification instead of action-unit regression, as AMGAN's comparison did: the critic's head classifies
the attribute values with the shared cross-entropy (summed over attributes, StarGAN's L_cls), weight
``loss.cls`` = 1. The official lambda_D_cond = 4000 weighs a different quantity: the MSE between predicted
and wanted intensities of 17 action units in [0, 1], a mean over batch x 17 values further divided by the
batch size (at its batch 25: 4000 / (25 x 17) = 9.4 per squared error summed over one sample's units), small
because squared intensity errors are small. No exact conversion to a cross-entropy over categorical values
exists; its role, the conditioning term next to an adversarial term of weight 1, is StarGAN's lambda_cls,
which is 1 for the cross-entropy in StarGAN and in AMGAN, so 1 here (``loss.cls`` to change it).

Targets: the official code asks for the action units of another training image (plus noise), several
changing at once; the ``paper`` and ``cpu`` presets use the matching ``targets: permuted`` (a permuted
batch's labels), as StarGAN's do. Attention collapse (A all 1 or all 0, its users' most repeated problem) is
logged: ``mask_mean`` (of A), ``mask_collapse`` (1 when the batch mean of A is above 0.98 or below 0.02) in
stats.jsonl, and a red frame around a collapsed edit mask (``1 - A``) in the sample grids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.task import OptimizerConfig
from ..engine.trainer import TrainConfig
from .editing.config import EditGanConfig, EditLossWeights, EditModelConfig, EditOptim
from .editing.editor import infer_editor, load_editor
from .editing.networks import GeneratorConfig
from .editing.task import EditGanTask
from .registry import register_model


def _adam(lr: float, decay_start: float) -> OptimizerConfig:
    return OptimizerConfig(lr=lr, betas=(0.5, 0.999), lr_decay_start=decay_start)


@dataclass
class GanimationConfig(EditGanConfig):
    """GANimation's defaults (the ``paper`` preset): attention head with A = 1 keeping the input, mask mean
    (0.1) and summed total variation (1e-5) regularisers, cycle 10, classification 1, GP 10, n_critic 5."""

    targets: str = "permuted"
    model: EditModelConfig = field(
        default_factory=lambda: EditModelConfig(generator=GeneratorConfig(attention=True, attention_keeps=True))
    )
    loss: EditLossWeights = field(
        default_factory=lambda: EditLossWeights(cls=1.0, rec=10.0, gp=10.0, mask_l1=0.1, mask_smooth=1e-5)
    )
    optim: EditOptim = field(default_factory=lambda: EditOptim(G=_adam(1e-4, 2 / 3), D=_adam(1e-4, 2 / 3)))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=80000, batch_size=16, ema=0.999, log_every=100, sample_every=5000)
    )


class GanimationTask(EditGanTask):
    name = "ganimation"


register_model(
    "ganimation",
    config=GanimationConfig,
    task=GanimationTask,
    load=lambda config, extra, preprocess: load_editor("ganimation", config, extra, preprocess),
    infer=infer_editor,
    help="GANimation attribute editor: colour and attention heads, A = 1 keeps the input (ECCV 2018)",
)
