"""Models by name: ``MODELS.get("attrnet")`` gives its config, training task, loader and inference.

Importing this package imports every model module, and each registers itself where it is defined
(:func:`fashionlab.models.registry.register_model`), in the manner of timm.
"""

from __future__ import annotations

from . import (  # noqa: F401 - each registers itself
    amgan,
    attrclf_task,
    attrnet_task,
    deform,
    ganimation,
    keypoints,
    patn,
    resgan,
    sagan,
    stargan,
    xinggan,
)
from .registry import MODELS, ModelSpec, build_task, load, register_model

__all__ = ["MODELS", "ModelSpec", "build_task", "load", "register_model"]
