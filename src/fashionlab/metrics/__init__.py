"""Metrics by name (``METRICS.get("attributes")``); each returns a report dataclass."""

from __future__ import annotations

from ..registry import Registry

METRICS: Registry = Registry("metric")


def _register() -> None:
    from .attributes import evaluate_attributes
    from .retrieval import evaluate_manipulation

    METRICS.register("attributes", help="accuracy, pointing game and AAM box IoU per attribute")(evaluate_attributes)
    METRICS.register("manipulation_retrieval", help="top-k accuracy of attribute-manipulation queries")(
        evaluate_manipulation
    )


_register()
