"""Models by name: ``MODELS.get("attrnet")`` gives its config, training task, loader and inference.

Importing this package imports every model module, and each registers itself where it is defined
(:func:`fashionlab.models.registry.register_model`), in the manner of timm.
"""

from __future__ import annotations

from . import amgan, attrclf_task, attrnet_task, deform, keypoints, patn, resgan, stargan, xinggan  # noqa: F401 - each registers itself
from .registry import MODELS, ModelSpec, build_task, load, register_model

__all__ = ["MODELS", "ModelSpec", "build_task", "load", "register_model"]
