"""How an export's tensors are stored and identified: half-precision storage and the tensor hash.

- :func:`to_storage` turns floating-point tensors into the storage dtype of an export (``fp32`` or
  ``fp16``), keeping in fp32 every tensor that fp16 would hurt (overflow, or a relative error above
  :data:`FP16_MAX_RELATIVE_ERROR`, for BatchNorm's ``running_var`` measured on ``1/sqrt(var + eps)``),
  and says which and why. Integer buffers (``num_batches_tracked``) are never touched.
- :func:`upcast` is its inverse on load: every half-precision tensor back to fp32, so a model loaded
  from an fp16 export is an ordinary fp32 model.
- :func:`tensor_hash` identifies a network by its values as loaded (names, shapes and fp32 bytes), not by
  its file: an export that references another network (an editor's attribute network, a re-poser's
  keypoint estimator) records this hash, and a storage conversion of the referenced file does not
  change what the hash means.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

STORAGE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
#: largest relative L2 error (``|fp16 - fp32| / |fp32|`` over a tensor) accepted for fp16 storage; rounding
#: alone gives about 2e-4 (fp16 keeps 11 significant bits)
FP16_MAX_RELATIVE_ERROR = 1e-3
#: BatchNorm's default eps: the running variance is judged by the error of ``1/sqrt(var + eps)``
BN_EPS = 1e-5
FP16_MAX = float(torch.finfo(torch.float16).max)


def flatten(states: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``{net: {param: tensor}}`` -> ``{"net.param": tensor}`` (the names in ``model.safetensors``)."""
    return {f"{net}.{k}": v for net, state in states.items() for k, v in state.items()}


def tensor_hash(states: Mapping[str, torch.Tensor] | Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    """Hex SHA-256 of a network's values as loaded: for each tensor in name order, its name, dtype (after
    upcasting floats to fp32), shape and bytes. Takes ``{name: tensor}`` or ``{net: {param: tensor}}``
    (flattened to ``net.param``), so an export's states and its ``model.safetensors`` names agree. Equal
    for an fp32 network and the fp16 copy of it upcast, when the values are equal; any change of a value,
    name or shape changes it."""
    if states and all(isinstance(v, Mapping) for v in states.values()):
        states = flatten(states)  # type: ignore[arg-type]
    h = hashlib.sha256()
    for name in sorted(states):
        t = states[name].detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float32)
        t = t.contiguous()
        header = json.dumps([name, str(t.dtype).removeprefix("torch."), list(t.shape)])
        h.update(header.encode() + b"\0")
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (how exports made before :func:`tensor_hash` referenced other networks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fp16_error(name: str, t: torch.Tensor) -> tuple[float, float]:
    """(max |value|, relative L2 error of storing ``t`` in fp16) - for ``running_var`` the error of the
    inverse standard deviation BatchNorm computes from it."""
    t = t.detach().to("cpu", torch.float32)
    if t.numel() == 0:
        return 0.0, 0.0
    max_abs = float(t.abs().max())
    h = t.to(torch.float16).to(torch.float32)
    if not torch.isfinite(h).all():
        return max_abs, float("inf")
    if name.endswith("running_var"):
        t, h = (t.clamp_min(0) + BN_EPS).rsqrt(), (h.clamp_min(0) + BN_EPS).rsqrt()
    norm = float(t.norm())
    return max_abs, (float((h - t).norm()) / norm if norm > 0 else 0.0)


def to_storage(
    tensors: Mapping[str, torch.Tensor], storage: str = "fp32", max_error: float = FP16_MAX_RELATIVE_ERROR
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors in the ``storage`` dtype, report). Only floating-point tensors are converted; one that fp16
    would overflow, or whose relative error would exceed ``max_error``, stays fp32. The report (empty for
    fp32): ``kept_fp32`` ``{name: why}``, ``max_abs`` (the largest |value| of any tensor) and
    ``max_relative_error`` (the worst relative L2 error of a converted tensor, see :func:`fp16_error`)."""
    from ..errors import InputError

    if storage not in STORAGE_DTYPES:
        raise InputError(f"unknown storage dtype {storage!r}; valid: {', '.join(STORAGE_DTYPES)}", field="storage")
    dtype = STORAGE_DTYPES[storage]
    out: dict[str, torch.Tensor] = {}
    kept: dict[str, str] = {}
    worst, largest = 0.0, 0.0
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if not t.is_floating_point() or dtype == torch.float32:
            out[name] = t  # fp32 storage: every tensor as the network holds it
            continue
        max_abs, err = fp16_error(name, t)
        largest = max(largest, max_abs)
        if max_abs > FP16_MAX:
            kept[name] = f"max |value| {max_abs:.3g} overflows fp16"
        elif err > max_error:
            kept[name] = f"fp16 relative error {err:.2e} > {max_error:.0e}"
        else:
            worst = max(worst, err)
        out[name] = t.to(torch.float32) if name in kept else t.to(dtype)
    if dtype == torch.float32:
        return out, {}
    return out, {"kept_fp32": kept, "max_abs": float(f"{largest:.4g}"), "max_relative_error": float(f"{worst:.3g}")}


def upcast(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every half-precision tensor (fp16, bf16) as fp32 (exactly: the conversion is lossless); others
    unchanged."""
    half = (torch.float16, torch.bfloat16)
    return {k: (v.to(torch.float32) if v.dtype in half else v) for k, v in tensors.items()}
