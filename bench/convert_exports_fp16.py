"""Store exports' weights in fp16 and update the exports that reference them by tensor hash.

    python bench/convert_exports_fp16.py                      # every shipped model (src/fashionlab/assets)
    python bench/convert_exports_fp16.py runs/attrnet/run-001 runs/amgan/run-002
    python bench/convert_exports_fp16.py --dry-run            # sizes and errors only, nothing written

Each export is converted in place with :func:`fashionlab.engine.export.convert_export`: floating-point
tensors become fp16 unless fp16 would overflow them or change them by more than 1e-3 (relative L2 error;
for BatchNorm's running variance, of ``1/sqrt(var + eps)``), which then stay fp32 and are listed in
``config.json``'s ``storage.kept_fp32``. Integer buffers are untouched. Loading upcasts to fp32.

Afterwards every converted export's new tensor hash is written into each of the given exports that
references it: an editor's ``extra.classifier.source.tensor_sha256`` (replacing the old file ``sha256``),
a re-poser's ``extra.keypoint_model_tensor_sha256``, and any ``{"asset": NAME, "tensor_sha256": ...}``
block (the domain check's reference to its attribute network). Prints a table per export: size before
and after, largest value, worst relative error, tensors kept in fp32.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fashionlab.engine.export import CONFIG_FILE, WEIGHTS_FILE, convert_export, export_dir, read_export
from fashionlab.engine.tensors import flatten, to_storage
from fashionlab.fileio import atomic_write_text
from fashionlab.models.registry import ASSETS


def update_references(node: Any, hashes: dict[str, str]) -> int:
    """Write the new tensor hashes of ``hashes`` (``{asset name: hash}``) into every reference to a shipped
    network inside a config.json tree; returns how many it changed."""
    changed = 0
    if isinstance(node, dict):
        asset = node.get("asset")
        if asset in hashes and isinstance(node.get("source"), dict):  # an editor's attribute network
            source = node["source"]
            source.pop("sha256", None)
            changed += source.get("tensor_sha256") != hashes[asset]
            source["tensor_sha256"] = hashes[asset]
        elif asset in hashes and "tensor_sha256" in node:
            changed += node["tensor_sha256"] != hashes[asset]
            node["tensor_sha256"] = hashes[asset]
        kp = node.get("keypoint_model")
        if isinstance(kp, str) and kp.startswith("asset:") and kp.split(":", 1)[1] in hashes:
            new = hashes[kp.split(":", 1)[1]]
            changed += node.get("keypoint_model_tensor_sha256") != new
            node["keypoint_model_tensor_sha256"] = new
        for v in node.values():
            changed += update_references(v, hashes)
    elif isinstance(node, list):
        for v in node:
            changed += update_references(v, hashes)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exports", nargs="*", type=Path, help="export or run folders (default: every shipped model)")
    ap.add_argument("--dry-run", action="store_true", help="measure only")
    args = ap.parse_args()
    folders = [export_dir(p) for p in args.exports] or sorted(
        p for p in ASSETS.iterdir() if (p / WEIGHTS_FILE).is_file()
    )
    print(
        "| export | before (bytes) | after (bytes) | float values | max abs value | worst relative error | kept fp32 |"
    )
    print("|---|---|---|---|---|---|---|")
    hashes: dict[str, str] = {}
    total = [0, 0]
    for folder in folders:
        before = (folder / WEIGHTS_FILE).stat().st_size
        if args.dry_run:
            _, states = read_export(folder)
            stored, report = to_storage(flatten(states), "fp16")
            after = sum(t.numel() * t.element_size() for t in stored.values())  # tensor bytes, no header
        else:
            report = convert_export(folder, "fp16")
            after = report["bytes"]
            if folder.parent.resolve() == ASSETS.resolve():
                hashes[folder.name] = report["tensor_sha256"]
        total[0] += before
        total[1] += after
        kept = "; ".join(f"{k} ({v})" for k, v in report["kept_fp32"].items()) or "none"
        n = sum(v.numel() for state in read_export(folder)[1].values() for v in state.values() if v.is_floating_point())
        print(
            f"| {folder.name} | {before:,} | {after:,} | {n:,} | {report['max_abs']:.4g} | "
            f"{report['max_relative_error']:.2e} | {kept} |"
        )
    print(f"| total | {total[0]:,} | {total[1]:,} | | | | |")
    if args.dry_run or not hashes:
        return
    for folder in [*folders, *(p for p in ASSETS.iterdir() if (p / CONFIG_FILE).is_file() and p not in folders)]:
        meta = json.loads((folder / CONFIG_FILE).read_text())
        if update_references(meta, hashes):
            atomic_write_text(folder / CONFIG_FILE, json.dumps(meta, indent=2) + "\n")
            print(f"updated the tensor hashes {folder.name} references")


if __name__ == "__main__":
    main()
