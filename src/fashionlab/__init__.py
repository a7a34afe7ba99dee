"""fashionlab: understand, search, edit and re-pose fashion images.

The package is organised by concern: ``synth`` (the SynthFashion renderer), ``data`` (the on-disk
dataset format, validator, importers, packed cache and loader) and ``cli`` (the ``fashionlab``
command). See README.md for a tour.
"""

__version__ = "0.1.0"


def load(path, device="cpu"):
    """Load an exported model folder (``config.json`` + ``model.safetensors``), ready for inference."""
    from .engine.export import load as _load

    return _load(path, device)
