"""How exact must an edit be to count as closer to the truth? The edit-gain figures of outputs made from the
exact truth itself, spoiled in known ways

    python bench/edit_gain_tolerance.py --data sf64-s50 --limit 400 --model asset:amgan-synth64 \\
        --out docs/edit-comparison-results/tolerance-s50

The same edits as ``fashionlab eval edit`` (one per attribute per test image, seed 0; SynthFashion only). Each
row is an output built from the exact re-render ``t`` and the input ``x``; every spoiled truth differs from
``x`` only inside the true edit region (outside it, it is the truth exactly), so it isolates how strict the
inside-the-region figures are:

- ``exact truth``: t (closer 100%, SSIM 1);
- ``half-way``: x + 0.5 (t - x) inside the region (a faint but exact edit: always closer, under L1);
- ``truth moved by S px``: t moved by S pixels (along each axis it moves on) in one of the 8 directions
  (random per edit), inside the region: the right content drawn slightly out of place (a pattern off its
  phase, an outline off by S);
- ``truth + noise N``: t plus Gaussian noise of N grey levels per channel inside the region (the speckle);
- ``truth blurred B``: t smoothed by a Gaussian of B pixels inside the region (a soft edit).

``--model`` adds editors (runs, exports or ``asset:NAME``) scored on the same edits, so their rows can be read
against the spoiled truths: e.g. the shipped AMGAN's inside error beside the noise that gives the same error.
Writes ``tolerance.md``, ``tolerance.json`` and ``tolerance-grid.png`` (columns: input, truth, the spoiled
truths, the editors) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.ndimage import shift as nd_shift

from fashionlab.data.format import read_schema
from fashionlab.data.imaging import Preprocess
from fashionlab.metrics.edit_gain import edit_gain
from fashionlab.metrics.editing import EditEvaluation, editor_method, ground_truth_scores
from fashionlab.metrics.evaluators import default_evaluators
from fashionlab.models.registry import load
from fashionlab.viz import image_grid

DIRECTIONS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def inside(inputs: np.ndarray, spoiled: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """``spoiled`` inside each edit region, ``inputs`` (= the truth) outside it; uint8."""
    out = np.where(regions[..., None], np.clip(np.rint(spoiled), 0, 255), inputs)
    return out.astype(np.uint8)


def moved(targets: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Each truth moved by ``shift`` pixels along each axis it moves on, in a random one of the 8 directions
    (bilinear for a fraction of a pixel; the border pixel repeated)."""
    picks = rng.integers(0, len(DIRECTIONS), len(targets))
    t = targets.astype(np.float64)
    return np.stack(
        [
            nd_shift(img, (DIRECTIONS[k][0] * shift, DIRECTIONS[k][1] * shift, 0), order=1, mode="nearest")
            for img, k in zip(t, picks, strict=True)
        ]
    )


def spoiled_truths(
    inputs: np.ndarray, targets: np.ndarray, regions: np.ndarray, *, shifts, noises, blurs, seed: int = 0
) -> dict[str, np.ndarray]:
    """The rows of the module docstring: ``{name: (n, H, W, 3) uint8}``, each equal to the truth outside the
    region."""
    rng = np.random.default_rng(seed)
    t = targets.astype(np.float64)
    rows = {
        "exact truth": targets.copy(),
        "half-way (x + 0.5 (t - x))": inside(inputs, inputs + 0.5 * (t - inputs), regions),
    }
    for s in shifts:
        rows[f"truth moved by {s:g} px"] = inside(inputs, moved(targets, s, rng), regions)
    for n in noises:
        rows[f"truth + noise {n:g}"] = inside(inputs, t + rng.normal(0.0, n, t.shape), regions)
    for b in blurs:
        rows[f"truth blurred {b:g} px"] = inside(inputs, gaussian_filter(t, (0, b, b, 0)), regions)
    return rows


def score(
    inputs: np.ndarray, outs: np.ndarray, targets: np.ndarray, regions: np.ndarray, attributes: np.ndarray, names
) -> dict[str, float]:
    """Closer (%) per attribute and mean, error removed (%), inside and outside error, GT SSIM (outside)."""
    gain = edit_gain(inputs, outs, targets, regions)
    gt = ground_truth_scores(outs, targets, regions)
    row = {f"closer {n}": 100 * float(np.nanmean(gain["closer"][attributes == a])) for a, n in enumerate(names)}
    row["closer mean"] = 100 * float(np.nanmean(gain["closer"]))
    row["closer worst attribute"] = min(row[f"closer {n}"] for n in names)
    row["error removed (%)"] = 100 * float(np.nanmean(gain["error_removed"]))
    row["inside error"] = float(np.nanmean(gain["inside_error"]))
    row["outside error"] = float(np.nanmean(gain["outside_error"]))
    row["ssim"] = float(np.nanmean(gt["ssim"]))
    row["ssim outside"] = float(np.nanmean(gt["ssim_outside"]))
    return row


def markdown(rows: dict[str, dict[str, float]], names) -> str:
    """The table: one row per output."""
    head = (
        "| output | closer mean | worst attribute | "
        + " | ".join(names)
        + " | error removed | inside error | outside error | GT SSIM (outside) |"
    )
    lines = [head, "|" + "---|" * (len(names) + 7)]
    for name, r in rows.items():
        per = " | ".join(f"{r[f'closer {n}']:.1f}" for n in names)
        lines.append(
            f"| {name} | {r['closer mean']:.1f} | {r['closer worst attribute']:.1f} | {per} | "
            f"{r['error removed (%)']:+.1f}% | {r['inside error']:.2f} | {r['outside error']:.2f} | "
            f"{r['ssim']:.3f} ({r['ssim outside']:.3f}) |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a SynthFashion dataset (the exact truth is rendered)")
    ap.add_argument("--limit", type=int, default=400, help="test images (one edit per attribute each)")
    ap.add_argument("--model", action="append", default=[], help="an editor to score beside (repeatable)")
    ap.add_argument("--shifts", default="0.5,1,2", help="pixels the truth is moved by (comma-separated)")
    ap.add_argument("--noises", default="8,16,32", help="noise levels, grey levels (comma-separated)")
    ap.add_argument("--blurs", default="0.7,1.5", help="blur radii, pixels (comma-separated)")
    ap.add_argument("--size", type=int, default=64, help="image size when no --model sets it")
    ap.add_argument("--grid-rows", type=int, default=10, help="edits in the grid")
    ap.add_argument("--out", required=True, help="a folder for tolerance.md / .json / -grid.png (made if absent)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    def numbers(text: str, kind=float) -> list:
        return [kind(v) for v in text.split(",") if v.strip()]

    editors = {m: load(m) for m in args.model}
    if editors:
        preprocess = next(iter(editors.values())).preprocess
        names = next(iter(editors.values())).space.names
    else:
        preprocess = Preprocess(size=(args.size, args.size), resize="fit")
        names = [a.name for a in read_schema(args.data).attributes]
    evaluator_name = default_evaluators(preprocess.size, names)[0]
    ev = EditEvaluation(
        args.data, {evaluator_name: load(evaluator_name)}, preprocess, limit=args.limit, progress=False,
        gallery_split="test",
    )  # fmt: skip
    if not ev.ground_truth:
        raise SystemExit(f"{args.data}: not a SynthFashion dataset (the tolerance needs the exact truth)")
    x, t, r, attrs = ev.inputs_uint8, ev.targets_uint8, ev.regions, ev.plan.attributes
    outputs = {"identity (the input)": x}
    outputs |= spoiled_truths(
        x, t, r, shifts=numbers(args.shifts), noises=numbers(args.noises), blurs=numbers(args.blurs)
    )
    for name, editor in editors.items():
        outputs[name] = ev.run(editor_method(editor), name)[1]
    rows = {name: score(x, o, t, r, attrs, ev.names) for name, o in outputs.items()}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, ev.names)
    header = f"{len(attrs)} edits of {args.limit} `{args.data}` test images; closer in % of edits per attribute\n\n"
    (out / "tolerance.md").write_text(header + table + "\n")
    (out / "tolerance.json").write_text(json.dumps({"data": args.data, "edits": len(attrs), "rows": rows}, indent=1))
    picks = np.linspace(0, len(attrs) - 1, min(args.grid_rows, len(attrs))).astype(int)
    shown = [k for k in outputs if k not in ("identity (the input)", "exact truth")]
    grid = image_grid([[x[i], t[i], *[outputs[k][i] for k in shown]] for i in picks])
    Image.fromarray(grid).save(out / "tolerance-grid.png")
    print(header + table)
    print("\ngrid columns: input, exact truth, " + ", ".join(shown))
    print(f"wrote {out}/tolerance.md, tolerance.json, tolerance-grid.png")


if __name__ == "__main__":
    main()
