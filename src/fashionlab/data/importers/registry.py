"""The importer registry (``IMPORTERS``), in a module of its own: every importer registers itself here
when its module is imported by the package (no importer imports the package)."""

from __future__ import annotations

from ...registry import Registry

IMPORTERS: Registry = Registry("importer")
