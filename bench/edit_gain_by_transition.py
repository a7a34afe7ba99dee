"""Where an editor's edits miss the truth: the edit gain per attribute, split by the value edited from and to

    python bench/edit_gain_by_transition.py --model asset:amgan-synth64 --data sf64-s50 --limit 400

The same edits as ``fashionlab eval edit`` (one per attribute per test image, seed 0). For each attribute, the
share of edits whose output is closer to the exact truth than the input inside the edit region ("closer",
:mod:`fashionlab.metrics.edit_gain`), by the value edited *to* and by the value edited *from*, with the count
of edits and the mean size of the edit region (pixels at the model's size): which changes the editor draws
and which it cannot (a small region, a pattern whose phase must match, a value rare in training).

``--phase-shift K`` adds, for the pattern edits that add structure (to stripes, dots or checks), the mean
error inside the region and the share closer than the input when the output is also allowed its best integer
shift within +-K pixels (the input likewise, as the control): how much of the miss is drawing the right
pattern a few pixels off the truth's phase; and the same share for every attribute at each shift up to K:
which misses are the right shape a pixel or two off and which are the wrong shape.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from fashionlab.metrics.edit_gain import edit_gain
from fashionlab.metrics.editing import EditEvaluation, editor_method
from fashionlab.metrics.evaluators import default_evaluators
from fashionlab.models.registry import load


def table(title: str, keys: np.ndarray, closer: np.ndarray, area: np.ndarray, names: list[str]) -> list[str]:
    """Markdown rows: per value, the share closer, the count and the mean region area."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[int(k)].append(i)
    lines = [f"| {title} | closer (%) | edits | region (px) |", "|---|---|---|---|"]
    for k in sorted(groups, key=lambda k: np.nanmean(closer[groups[k]])):
        idx = groups[k]
        lines.append(f"| {names[k]} | {100 * np.nanmean(closer[idx]):.1f} | {len(idx)} | {area[idx].mean():.0f} |")
    return lines


def region_error(image: np.ndarray, target: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute error (grey levels, mean over the channels) inside ``region``."""
    return float(np.abs(image.astype(np.float64) - target.astype(np.float64)).mean(-1)[region].mean())


def shift_errors(image: np.ndarray, target: np.ndarray, region: np.ndarray, k: int) -> np.ndarray:
    """(2k + 1, 2k + 1): :func:`region_error` of ``image`` rolled by (dy, dx), dy and dx from -``k`` to ``k``."""
    span = range(-k, k + 1)
    return np.array([[region_error(np.roll(image, (dy, dx), (0, 1)), target, region) for dx in span] for dy in span])


def best_within(errors: np.ndarray, k: int) -> np.ndarray:
    """The smallest error at a shift within +-``k`` from :func:`shift_errors` tables (..., 2K + 1, 2K + 1)."""
    centre = errors.shape[-1] // 2
    return errors[..., centre - k : centre + k + 1, centre - k : centre + k + 1].min((-2, -1))


def best_shift_error(image: np.ndarray, target: np.ndarray, region: np.ndarray, k: int) -> float:
    """The smallest :func:`region_error` of ``image`` rolled by any (dy, dx) within +-``k`` pixels."""
    return float(best_within(shift_errors(image, target, region, k), k))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an editor (run, export or asset:NAME)")
    ap.add_argument("--data", required=True, help="a SynthFashion dataset (the exact truth is rendered)")
    ap.add_argument("--limit", type=int, default=400, help="test images (one edit per attribute each)")
    ap.add_argument("--phase-shift", type=int, default=0, help="K: also score pattern additions at their best shift")
    args = ap.parse_args()
    torch.set_num_threads(1)
    editor = load(args.model)
    evaluators = {n: load(n) for n in default_evaluators(editor.preprocess.size, editor.space.names)[:1]}
    ev = EditEvaluation(
        args.data, evaluators, editor.preprocess, limit=args.limit, progress=False, gallery_split="test"
    )
    if not ev.ground_truth:
        raise SystemExit(f"{args.data}: not a SynthFashion dataset (the edit gain needs the exact truth)")
    _, outs, _ = ev.run(editor_method(editor), "editor")
    gain = edit_gain(ev.inputs_uint8, outs, ev.targets_uint8, ev.regions)
    closer, area = gain["closer"], ev.regions.sum((1, 2)).astype(float)
    plan = ev.plan
    sources = ev.labels[torch.from_numpy(plan.rows)].numpy()[np.arange(len(plan.rows)), plan.attributes]
    print(f"{args.model} on {args.data}: {len(plan.rows)} edits, closer {100 * np.nanmean(closer):.1f}%\n")
    for a, name in enumerate(ev.names):
        sel = plan.attributes == a
        values = list(ev.ds.specs[a].values)
        print(f"**{name}** (closer {100 * np.nanmean(closer[sel]):.1f}%, {sel.sum()} edits)\n")
        print("\n".join(table(f"{name} edited to", plan.values[sel], closer[sel], area[sel], values)) + "\n")
        print("\n".join(table(f"{name} edited from", sources[sel], closer[sel], area[sel], values)) + "\n")
    if not args.phase_shift:
        return
    # every edit's error at every shift within +-K, once, for the input and the output
    k, x, t, r = args.phase_shift, ev.inputs_uint8, ev.targets_uint8, ev.regions
    shifted_in = np.stack([shift_errors(x[i], t[i], r[i], k) for i in range(len(x))])
    shifted_out = np.stack([shift_errors(outs[i], t[i], r[i], k) for i in range(len(x))])
    if "pattern" in ev.names:
        a = ev.names.index("pattern")
        values = list(ev.ds.specs[a].values)
        added = [values.index(v) for v in ("horizontal_stripes", "vertical_stripes", "dots", "checks") if v in values]
        rows = np.where((plan.attributes == a) & np.isin(plan.values, added))[0]
        e_in, e_out = gain["inside_error_input"][rows], gain["inside_error"][rows]
        b_in, b_out = best_within(shifted_in[rows], k), best_within(shifted_out[rows], k)
        print(f"**pattern edits that add structure, allowed a shift of up to {k} px** ({len(rows)} edits)\n")
        print("| | input error | output error | output closer than the input (%) |\n|---|---|---|---|")
        print(f"| as drawn | {e_in.mean():.1f} | {e_out.mean():.1f} | {100 * (e_out < e_in).mean():.1f} |")
        print(
            f"| each at its best shift | {b_in.mean():.1f} | {b_out.mean():.1f} | {100 * (b_out < b_in).mean():.1f} |"
        )
    shifts = range(k + 1)
    print("\n**every attribute, closer (%) when output and input may each take their best shift of up to k px**\n")
    print("| attribute | " + " | ".join("as drawn" if j == 0 else f"k = {j}" for j in shifts) + " |")
    print("|---|" + "---|" * len(shifts))
    for a, name in enumerate(ev.names):
        rows = np.where((plan.attributes == a) & (area > 0))[0]
        cells = [
            f"{100 * (best_within(shifted_out[rows], j) < best_within(shifted_in[rows], j)).mean():.1f}" for j in shifts
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
