"""Inference export: a folder with ``config.json`` and ``model.safetensors``; no pickled code.

``config.json`` holds the model kind (its registry name), the network config, what the model needs to
rebuild itself (``extra``: attribute names and values ...) and ``preprocess``, the input the model
expects (size, resize mode, range). :func:`fashionlab.load` (in :mod:`fashionlab.models.registry`) reads
the folder with :func:`read_export` and asks the model's registry entry to build it. Training checkpoints
are separate (see :mod:`.checkpoint`).

Weights may be stored in fp16 (``storage="fp16"``, or :func:`convert_export` on an existing export; the
shipped models are): :func:`read_export` upcasts them to fp32, so a loaded model is the same either way.
``config.json`` then says so in ``storage`` (the dtype, the tensors kept in fp32 and why, and what the
export was converted from). ``provenance`` records where the weights came from (:mod:`.provenance`).
Another network an export depends on is referenced by :func:`export_tensor_hash` (see :mod:`.tensors`)
and checked with :func:`check_tensor_hash`.
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
from .tensors import file_sha256, flatten, tensor_hash, to_storage, upcast

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
    storage: str = "fp32",
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (tensors named ``<net>.<param>``) into ``out_dir``.
    ``storage``: ``fp32`` or ``fp16`` for the floating-point tensors (see :func:`.tensors.to_storage`);
    ``provenance``: where the weights came from (the trainer adds it, :func:`add_provenance`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    states = {name: net.state_dict() for name, net in nets.items()}
    meta = {
        "kind": kind,
        "fashionlab_version": __version__,
        "nets": sorted(nets),
        "preprocess": preprocess.to_dict(),
        "config": config,
        "extra": extra or {},
    }
    if provenance is not None:
        meta["provenance"] = provenance
    write_weights(out, meta, flatten(states), storage)
    return out


def write_weights(
    out: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], storage: str, converted_from: dict | None = None
) -> dict[str, Any]:
    """Write ``tensors`` in ``storage`` and ``meta`` into the export folder ``out``; unless fp32, ``meta``
    gains a ``storage`` block: the dtype, :func:`.tensors.to_storage`'s report (tensors kept in fp32 and
    why, largest value, worst relative error) and ``converted_from``. Returns that block (``{}`` for fp32)."""
    stored, report = to_storage(tensors, storage)
    meta = {k: v for k, v in meta.items() if k != "storage"}
    if storage != "fp32":
        meta["storage"] = {"dtype": storage, **report}
        if converted_from:
            meta["storage"]["converted_from"] = converted_from
    atomic_write_bytes(out / WEIGHTS_FILE, save(stored, metadata={"kind": str(meta["kind"]), "storage": storage}))
    atomic_write_text(out / CONFIG_FILE, json.dumps(meta, indent=2) + "\n")
    return meta.get("storage", {})


def convert_export(path: str | Path, storage: str = "fp16", out_dir: str | Path | None = None) -> dict[str, Any]:
    """Store an existing export's weights in ``storage`` (in place, or into ``out_dir``). Its ``config.json``
    gains ``storage.converted_from``: the file and tensor hashes of what it was converted from, so exports
    that referenced that version can still be matched. Returns the ``storage`` block (the tensors left in
    fp32 with the reason, the largest value, the worst relative error) plus ``tensor_sha256``, the new
    tensor hash (of the converted values upcast to fp32), and ``bytes``, the new size of the weights file."""
    src = export_dir(path)
    meta = json.loads((src / CONFIG_FILE).read_text())
    _, states = read_export(src)
    before = {"file_sha256": file_sha256(src / WEIGHTS_FILE), "tensor_sha256": tensor_hash(states)}
    previous = (meta.get("storage") or {}).get("converted_from")
    out = Path(out_dir) if out_dir is not None else src
    out.mkdir(parents=True, exist_ok=True)
    if out != src:
        for f in src.iterdir():  # the model card and anything else travels along
            if f.is_file() and f.name not in (CONFIG_FILE, WEIGHTS_FILE):
                atomic_write_bytes(out / f.name, f.read_bytes())
    block = write_weights(out, meta, flatten(states), storage, converted_from=previous or before)
    _, new_states = read_export(out)
    return {**block, "tensor_sha256": tensor_hash(new_states), "bytes": (out / WEIGHTS_FILE).stat().st_size}


def add_provenance(path: str | Path, provenance: dict[str, Any]) -> None:
    """Set the ``provenance`` block of an existing export's ``config.json``."""
    cfg_path = export_dir(path) / CONFIG_FILE
    meta = json.loads(cfg_path.read_text())
    meta["provenance"] = provenance
    atomic_write_text(cfg_path, json.dumps(meta, indent=2) + "\n")


def export_tensor_hash(path: str | Path) -> str:
    """:func:`.tensors.tensor_hash` of an export's weights as loaded (fp32): how another export references it."""
    return tensor_hash(read_export(path)[1])


def export_meta(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of an export folder (or a run folder with ``export/``) as a dict, without reading
    the weights; ``{}`` when it is missing or not a JSON object."""
    try:
        meta = json.loads((export_dir(path) / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def converted_from(path: str | Path) -> dict[str, str]:
    """``{"file_sha256", "tensor_sha256"}`` of the version an export was converted from (``{}`` if none)."""
    return (export_meta(path).get("storage") or {}).get("converted_from") or {}


def check_reference(
    path: str | Path,
    meta: dict[str, Any],
    states: dict[str, dict[str, torch.Tensor]],
    what: str,
    tensor_sha256: str | None = None,
    legacy_file_sha256: str | None = None,
) -> None:
    """Raise an InputError unless the export at ``path`` (its ``meta`` and ``states``, as read) is the network
    another export references: by ``tensor_sha256`` (:func:`.tensors.tensor_hash`), or, in exports from
    before tensor hashes, by the ``legacy_file_sha256`` of its weights file. The version an export was converted
    from matches too (an fp16 copy of the very network is accepted). ``what`` names it in the message."""
    if tensor_sha256:
        key, want, have = "tensor hash", tensor_sha256, tensor_hash(states)
    elif legacy_file_sha256:
        key, want, have = "weights file's sha256", legacy_file_sha256, file_sha256(export_dir(path) / WEIGHTS_FILE)
    else:
        return
    before = ((meta.get("storage") or {}).get("converted_from") or {}).get(
        "tensor_sha256" if tensor_sha256 else "file_sha256"
    )
    if want not in (have, before):
        raise InputError(
            f"this export was made with another version of {what} ({export_dir(path)}): its {key} is "
            f"{have[:12]}..., the export names {want[:12]}...; use the version it was exported with",
            path=export_dir(path) / CONFIG_FILE,
        )


def export_dir(path: str | Path) -> Path:
    """The export folder of ``path``: the folder itself, or a run folder's ``export/``."""
    p = Path(path)
    return p / "export" if (p / "export" / CONFIG_FILE).is_file() else p


def read_export(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(config.json contents with ``preprocess`` parsed into a :class:`Preprocess`, {net: state_dict}) of
    an export folder (or a run folder with ``export/``); floating-point weights stored in fp16 come back
    as fp32."""
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
    for k, v in upcast(flat).items():
        net, _, param = k.partition(".")
        states.setdefault(net, {})[param] = v
    return meta, states
