"""The domain check as the use cases apply it: one report per input photo, a warning line for the CLI
and a field for the API (see :mod:`fashionlab.models.domain` for the score and its calibration)."""

from __future__ import annotations

import numpy as np

from ..models.domain import DomainReport, load_domain_check


def domain_reports(photos: list[np.ndarray]) -> list[DomainReport]:
    """The shipped domain check's report for each (H, W, 3) uint8 photo."""
    return load_domain_check().check_batch(photos)


def report_dict(report: DomainReport) -> dict:
    """A report as the API returns it."""
    return {
        "score": round(float(report.score), 3),
        "threshold": round(float(report.threshold), 3),
        "unusual": bool(report.unusual),
        "message": report.message,
    }
