"""Which region threshold finds the sleeves and the torso best for one editor? (SynthFashion only.)

    python bench/choose_region_threshold.py --model asset:amgan-synth64 --data sf64 --data sf64-s50 \\
        --thresholds 0.9,0.7,0.5,0.4,0.3,0.2,0.1 --limit 200 --out choice.json

A named region (``fashionlab edit --region sleeves``) is found by AMGAN's rule: the attention masks of probe
edits ("sleeveless" for the sleeves, a colour change for the garment) thresholded (``Editor.region_mask``).
The paper thresholds at 0.9, which assumes masks that saturate; a soft mask finds almost nothing there. For
each threshold this scores the found region's IoU with the exact region of SynthFashion's region edits
(:class:`fashionlab.metrics.region_edits.RegionEditEvaluation`, ``color=red``, the ``test`` split) in the
sleeves and in the torso, and picks the threshold with the best mean IoU over both regions on the *first*
``--data`` (ties to the higher threshold); the others only confirm it. The pick goes into an export as
``fashionlab export RUN model.region_threshold=T`` (or the ``region_threshold`` of its ``config.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fashionlab.metrics.editing import mask_iou
from fashionlab.metrics.region_edits import REGIONS, RegionEditEvaluation
from fashionlab.models.registry import load


def region_ious(editor, ev: RegionEditEvaluation, thresholds: list[float], batch_size: int = 64) -> dict[float, float]:
    """Mean IoU of the found region with the exact one, per threshold."""
    found: dict[float, list[np.ndarray]] = {t: [] for t in thresholds}
    with torch.no_grad():
        for s in range(0, len(ev.rows), batch_size):
            x, labels = ev.images[s : s + batch_size], ev.labels[s : s + batch_size]
            for t in thresholds:
                found[t].append(editor.region_mask(x, ev.region, labels, t)[:, 0].float().numpy())
    return {t: float(np.mean(mask_iou(np.concatenate(m), ev.exact_regions))) for t, m in found.items()}


def pick(table: dict[float, dict[str, float]]) -> float:
    """The threshold with the best mean IoU over the regions (ties: the higher threshold)."""
    return max(table, key=lambda t: (round(float(np.mean(list(table[t].values()))), 6), t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an editor with attention masks (run, export or asset:NAME)")
    ap.add_argument("--data", action="append", required=True, help="SynthFashion datasets; the first chooses")
    ap.add_argument("--thresholds", default="0.9,0.7,0.5,0.4,0.3,0.2,0.1", help="comma-separated, in (0, 1)")
    ap.add_argument("--limit", type=int, default=200, help="test images per region")
    ap.add_argument("--out", help="a JSON file for the tables and the pick")
    args = ap.parse_args()
    torch.set_num_threads(1)
    editor = load(args.model)
    if not editor.has_attention:
        raise SystemExit(f"{args.model}: a {editor.kind} has no attention masks to find regions with")
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    tables: dict[str, dict[float, dict[str, float]]] = {}
    for data in args.data:
        per_region = {
            r: region_ious(editor, RegionEditEvaluation(data, editor.preprocess, r, limit=args.limit, progress=False),
                           thresholds)
            for r in REGIONS
        }  # fmt: skip
        tables[data] = {t: {r: per_region[r][t] for r in REGIONS} for t in thresholds}
    chosen = pick(tables[args.data[0]])
    print(f"{args.model}: IoU of the found region with the exact one (color=red edits, {args.limit} images)\n")
    head = " | ".join(f"{d} {r}" for d in args.data for r in REGIONS)
    print(f"| threshold | {head} |\n|---|" + "---|" * (len(args.data) * len(REGIONS)))
    for t in thresholds:
        cells = " | ".join(f"{tables[d][t][r]:.3f}" for d in args.data for r in REGIONS)
        print(f"| {t:g}{' (pick)' if t == chosen else ''} | {cells} |")
    print(f"\npick: {chosen:g} (best mean IoU on {args.data[0]}); export with model.region_threshold={chosen:g}")
    if args.out:
        Path(args.out).write_text(
            json.dumps({"model": args.model, "limit": args.limit, "pick": chosen, "iou": tables}, indent=1)
        )


if __name__ == "__main__":
    main()
