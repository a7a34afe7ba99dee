"""StarGAN (Choi et al., CVPR 2018) as an attribute editor: ``fashionlab train stargan``.

One generator for every attribute (the image concatenated with the tiled manipulation code), one
PatchGAN critic with an attribute-classification head; WGAN-GP (10), classification 1, cycle
reconstruction 10, n_critic 5, Adam 1e-4 (0.5, 0.999), batch 16 (the ``paper`` preset). Built from the
shared parts in :mod:`fashionlab.models.editing`; AMGAN is the same task with its extra parts switched on.
"""

from __future__ import annotations

from dataclasses import dataclass

from .editing.config import EditGanConfig
from .editing.editor import infer_editor, load_editor
from .editing.task import EditGanTask
from .registry import register_model


@dataclass
class StarGanConfig(EditGanConfig):
    """StarGAN: no attention head, no crop critic, no CAM or perceptual loss (see EditGanConfig)."""


class StarGanTask(EditGanTask):
    name = "stargan"


register_model(
    "stargan",
    config=StarGanConfig,
    task=StarGanTask,
    load=lambda config, extra, preprocess: load_editor("stargan", config, extra, preprocess),
    infer=infer_editor,
    help="StarGAN attribute editor (the strongest baseline of AMGAN)",
)
