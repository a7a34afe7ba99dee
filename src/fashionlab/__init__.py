"""fashionlab: understand, search, edit and re-pose fashion images.

The package is organised by concern: ``synth`` (the SynthFashion renderer), ``data`` (the on-disk
dataset format, validator, importers, packed cache and loader) and ``cli`` (the ``fashionlab``
command). See README.md for a tour.
"""

__version__ = "0.1.0"
