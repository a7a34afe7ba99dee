"""Inference export: a folder with ``config.json`` and ``model.safetensors``; no pickled code.

``config.json`` holds the model kind (its registry name), the network config, what the model needs to
rebuild itself (``extra``: attribute names and values ...) and ``preprocess``, the input the model
expects (size, resize mode, range). :func:`fashionlab.load` (in :mod:`fashionlab.models.registry`) reads
the folder with :func:`read_export` and asks the model's registry entry to build it. Training checkpoints
are separate (see :mod:`.checkpoint`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from ..data.imaging import Preprocess
from ..errors import InputError
from ..fileio import atomic_write_bytes, atomic_write_text
from ..version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_export(
    out_dir: str | Path,
    *,
    kind: str,
    nets: dict[str, torch.nn.Module],
    config: dict[str, Any],
    preprocess: Preprocess,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (tensors named ``<net>.<param>``) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{name}.{k}": v.detach().to("cpu").contiguous()
        for name, net in nets.items()
        for k, v in net.state_dict().items()
    }
    atomic_write_bytes(out / WEIGHTS_FILE, save(tensors, metadata={"kind": kind}))
    meta = {
        "kind": kind,
        "fashionlab_version": __version__,
        "nets": sorted(nets),
        "preprocess": preprocess.to_dict(),
        "config": config,
        "extra": extra or {},
    }
    atomic_write_text(out / CONFIG_FILE, json.dumps(meta, indent=2))
    return out


def export_dir(path: str | Path) -> Path:
    """The export folder of ``path``: the folder itself, or a run folder's ``export/``."""
    p = Path(path)
    return p / "export" if (p / "export" / CONFIG_FILE).is_file() else p


def read_export(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(config.json contents with ``preprocess`` parsed into a :class:`Preprocess`, {net: state_dict}) of
    an export folder (or a run folder with ``export/``)."""
    p = export_dir(path)
    cfg_path, w_path = p / CONFIG_FILE, p / WEIGHTS_FILE
    if not cfg_path.is_file() or not w_path.is_file():
        raise InputError(
            f"not a fashionlab model export (expected {CONFIG_FILE} and {WEIGHTS_FILE}); "
            "pass a run folder or its export/ directory",
            path=p,
        )
    try:
        meta = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", path=cfg_path, line=e.lineno) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str):
        raise InputError('expected an object with a "kind"', path=cfg_path)
    if not isinstance(meta.get("preprocess"), dict):
        raise InputError('expected "preprocess": {"size": [height, width], "resize": ...}', path=cfg_path)
    try:
        meta["preprocess"] = Preprocess.from_dict(meta["preprocess"])
    except InputError as e:
        raise InputError(e.message, path=cfg_path, field=e.field) from None
    try:
        flat = load_file(str(w_path))
    except Exception as e:  # noqa: BLE001 - safetensors raises several types
        raise InputError(f"cannot read weights ({e})", path=w_path) from None
    states: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in flat.items():
        net, _, param = k.partition(".")
        states.setdefault(net, {})[param] = v
    return meta, states
