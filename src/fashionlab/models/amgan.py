"""AMGAN: Attribute Manipulation GAN (Ak, Lim, Tham, Kassim; ICCV 2019): ``fashionlab train amgan``.

StarGAN's generator with a second head, a one-channel sigmoid attention mask ``a``; the output is
``x* = a * z + (1 - a) * x`` (``a = 1``: edited). The mask is trained toward the frozen attribute network's
CAM of the target value (``loss.attention`` 10); a second critic D_C sees the crop of the largest region of
the mask above half its maximum (the same box on real and fake, half size, two layers fewer); a
perceptual loss (``loss.perceptual`` 20; 10 on Shopping100k) pulls x*'s conv5 features of the frozen
network toward those of a real image having exactly the target attributes. Everything else as StarGAN.
The ablations of the paper's Table 3 are config switches: ``model.use_dc``, ``loss.perceptual=0``,
``loss.attention=0``, ``model.cam_as_mask``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .editing.config import EditGanConfig, EditLossWeights, EditModelConfig
from .editing.editor import infer_editor, load_editor
from .editing.networks import GeneratorConfig
from .editing.task import EditGanTask
from .registry import register_model


@dataclass
class AmganConfig(EditGanConfig):
    """AMGAN's defaults: attention head, crop critic, attention (10) and perceptual (20) losses."""

    model: EditModelConfig = field(
        default_factory=lambda: EditModelConfig(generator=GeneratorConfig(attention=True), use_dc=True)
    )
    loss: EditLossWeights = field(default_factory=lambda: EditLossWeights(attention=10.0, perceptual=20.0))


class AmganTask(EditGanTask):
    name = "amgan"


def amgan_tiny_setup(out: Path) -> list[str]:
    """A tiny dataset and a tiny frozen attribute network trained on it (3 steps) for smoke runs."""
    from ..config import resolve_config
    from ..engine.trainer import Trainer
    from .attrnet_task import AttrNetConfig
    from .registry import build_task, synth_tiny_data

    data = synth_tiny_data(out / "data")
    cfg = resolve_config(
        AttrNetConfig, model="attrnet", preset="tiny", overrides=[f"data={data}", f"train.out={out / 'classifier'}"]
    )
    run = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False).fit()
    return [f"data={data}", f"classifier={run / 'export'}"]


register_model(
    "amgan",
    config=AmganConfig,
    task=AmganTask,
    load=lambda config, extra, preprocess: load_editor("amgan", config, extra, preprocess),
    infer=infer_editor,
    tiny_setup=amgan_tiny_setup,
    help="AMGAN attribute editor: attention mask guided by CAMs, crop critic, perceptual loss (ICCV 2019)",
)
