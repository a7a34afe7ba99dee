"""Edit gain: does an edit move the image toward the exact truth? (SynthFashion only.)

For one edit, with the exact re-render ``target`` of the edited person and the exact ``region`` where the
edit may change pixels (both from :mod:`fashionlab.synth.ground_truth`), the input is wrong only inside
the region (outside it, input and target agree by construction). Per edit, in grey levels (0-255, the
mean over the three channels and the pixels counted):

- ``inside_error``: mean |output - target| inside the region;
- ``inside_error_input``: the same for the unchanged input (doing nothing);
- ``closer``: 1 when the output is strictly closer to the target inside the region than the input is
  (the identity scores 0: doing nothing is not a gain), NaN when the region is empty;
- ``error_removed``: ``1 - inside_error / inside_error_input`` (1: the region is exactly right; 0: no better
  than doing nothing; negative: worse);
- ``outside_error``: mean |output - target| outside the region, where the input has 0: what the edit
  broke elsewhere.

A classifier reading the output cannot be fooled into these: they compare pixels with the truth.
"""

from __future__ import annotations

import numpy as np

GAIN_METRICS = ("closer", "error_removed", "inside_error", "inside_error_input", "outside_error")


def edit_gain(
    inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray, regions: np.ndarray
) -> dict[str, np.ndarray]:
    """Per edit, the figures of the module docstring. ``inputs``, ``outputs``, ``targets``: (n, H, W, 3)
    uint8 at the same size; ``regions``: (n, H, W) bool. Returns ``{metric: (n,) float64}`` (NaN where the
    region, or its outside, is empty)."""
    if not (inputs.shape == outputs.shape == targets.shape and regions.shape == inputs.shape[:3]):
        raise ValueError(
            f"shapes differ: inputs {inputs.shape}, outputs {outputs.shape}, targets {targets.shape}, "
            f"regions {regions.shape}"
        )
    t = targets.astype(np.float64)
    err_out = np.abs(outputs.astype(np.float64) - t).mean(-1)  # (n, H, W)
    err_in = np.abs(inputs.astype(np.float64) - t).mean(-1)
    inside = regions.astype(np.float64)
    outside = 1.0 - inside
    n_in, n_out = inside.sum((1, 2)), outside.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        inside_error = np.where(n_in > 0, (err_out * inside).sum((1, 2)) / n_in, np.nan)
        inside_input = np.where(n_in > 0, (err_in * inside).sum((1, 2)) / n_in, np.nan)
        outside_error = np.where(n_out > 0, (err_out * outside).sum((1, 2)) / n_out, np.nan)
        removed = np.where(inside_input > 0, 1.0 - inside_error / inside_input, np.nan)
    closer = np.where(n_in > 0, (inside_error < inside_input).astype(np.float64), np.nan)
    return {
        "closer": closer,
        "error_removed": removed,
        "inside_error": inside_error,
        "inside_error_input": inside_input,
        "outside_error": outside_error,
    }
