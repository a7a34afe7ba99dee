"""Inference export: a folder with ``config.json`` and ``model.safetensors``; no pickled code.

``fashionlab.load(path)`` reads the folder, looks the model kind up in the registry and returns a ready
(eval-mode) model. Training checkpoints are separate (see :mod:`.checkpoint`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .. import __version__
from ..errors import InputError
from ..registry import Registry

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: model kind -> ``build(config_dict, extra) -> nn.Module`` used by :func:`load`.
LOADERS: Registry = Registry("exported model kind")


def save_export(
    out_dir: str | Path,
    *,
    kind: str,
    nets: dict[str, nn.Module],
    config: dict[str, Any],
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
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"kind": kind})
    os.replace(tmp, out / WEIGHTS_FILE)
    meta = {
        "kind": kind,
        "fashionlab_version": __version__,
        "nets": sorted(nets),
        "config": config,
        "extra": extra or {},
    }
    (out / (CONFIG_FILE + ".tmp")).write_text(json.dumps(meta, indent=2))
    os.replace(out / (CONFIG_FILE + ".tmp"), out / CONFIG_FILE)
    return out


def read_export(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(config.json contents, {net: state_dict}) of an export folder (or a run folder with ``export/``)."""
    p = Path(path)
    if (p / "export" / CONFIG_FILE).is_file():
        p = p / "export"
    cfg_path, w_path = p / CONFIG_FILE, p / WEIGHTS_FILE
    if not cfg_path.is_file() or not w_path.is_file():
        raise InputError(
            f"not a fashionlab model export (expected {CONFIG_FILE} and {WEIGHTS_FILE}); "
            "pass a run folder's export/ directory",
            path=p,
        )
    try:
        meta = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", path=cfg_path, line=e.lineno) from None
    try:
        flat = load_file(str(w_path))
    except Exception as e:  # noqa: BLE001 - safetensors raises several types
        raise InputError(f"cannot read weights ({e})", path=w_path) from None
    states: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in flat.items():
        net, _, param = k.partition(".")
        states.setdefault(net, {})[param] = v
    return meta, states


def load(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load an exported model, ready for inference (eval mode)."""
    from .. import models  # noqa: F401 - registers every model's loader

    meta, states = read_export(path)
    build = LOADERS.get(meta.get("kind", "?"))
    model = build(meta["config"], meta.get("extra", {}))
    missing = model.load_exported(states) if hasattr(model, "load_exported") else model.load_state_dict(states["model"])
    del missing
    return model.to(device).eval()
