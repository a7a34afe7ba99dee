"""fashionlab: understand, search, edit and re-pose fashion images.

The package is organised by concern: ``synth`` (the SynthFashion renderer), ``data`` (the on-disk
dataset format, validator, importers, packed cache and loader) and ``cli`` (the ``fashionlab``
command). See README.md for a tour.
"""

from .version import __version__

__all__ = ["__version__", "load"]


def load(path, device="cpu"):
    """Load an exported model folder (``config.json`` + ``model.safetensors``) or a run folder, ready for
    inference (eval mode); see :func:`fashionlab.models.registry.load`."""
    from .models.registry import load as _load

    return _load(path, device)
