"""Choose a masked editor's inference settings (content blur, mask floor) by measurement (issue #15, section 2)

    python bench/choose_export_settings.py --model RUN_OR_EXPORT --data sf64 --data sf64-s50 --limit 400 \
        --blur 0,0.25,0.5,0.75 --floor 0,0.05,0.1,0.15,0.2

``model.generator.content_blur`` (a Gaussian of sigma S pixels on the generator's content image) and
``model.generator.mask_floor`` (the learnt edit mask's soft tail cut: clamp((m - F) / (1 - F), 0, 1)) have no
weights: they are set at export (``fashionlab export RUN model.generator.content_blur=S
model.generator.mask_floor=F``). Both trade the evaluators' reading of an edit for pixels closer to the exact
truth, so they are chosen by one rule, the same for every model: **among the settings whose edit success
stays >= 90% of the ground truth's success under every evaluator, the one whose edits are closer to the truth
than the input most often** (SynthFashion's edit gain, mean over the edits; ties go to the smaller blur, then
the smaller floor). Every pair of the grid is scored on the same edits (one per attribute per test image,
seed 0) as ``fashionlab eval edit`` would, under the shipped evaluators of another training (default) or
those given with ``--evaluator``. With ``--data`` repeated, a pair must pass on every dataset and the
objective is the mean of their shares: give the editor's own test split and a seed no run has seen (a pair
chosen on ``sf64`` alone failed the rule on ``sf64-s50`` for the 10,000-iteration EMA + identity run;
docs/edit-comparison.md). Prints the table (markdown), the choice and its export command; ``--out`` also
writes it as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from fashionlab.metrics.editing import EditEvaluation, editor_method, ground_truth_method
from fashionlab.metrics.evaluators import default_evaluators
from fashionlab.models.registry import load


def settings_module(editor) -> torch.nn.Module:
    """The generator module whose ``cfg`` holds content_blur and mask_floor (SaGAN's: its manipulation net)."""
    G = editor.G
    return G.amn if hasattr(G, "amn") else G


def with_settings(editor, blur: float, floor: float) -> None:
    """Set the editor's inference settings in place (they have no weights)."""
    module = settings_module(editor)
    module.cfg = dataclasses.replace(module.cfg, content_blur=blur, mask_floor=floor)


def choose(rows: list[dict], min_relative: float) -> dict | None:
    """The rule: among ``rows`` (each ``{"blur", "floor", "relative_success": {evaluator: r}, "closer"}``) whose
    relative success is >= ``min_relative`` under every evaluator, the one with the largest ``closer``; ties to
    the smaller blur, then the smaller floor. None when no row qualifies."""
    ok = [r for r in rows if min(r["relative_success"].values()) >= min_relative]
    if not ok:
        return None
    return max(ok, key=lambda r: (round(r["closer"], 9), -r["blur"], -r["floor"]))


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise SystemExit(f"expected at least one number, got {text!r}")
    return values


def _score(ev: EditEvaluation, editor, data: str, blur: float, floor: float, truth_success: dict) -> dict:
    """One dataset's row for one pair of settings."""
    with_settings(editor, blur, floor)
    report, _, _ = ev.run(editor_method(editor), f"blur {blur} floor {floor}")
    d, gt = report.to_dict(), report.gt
    success = {k: v["success"]["mean"] for k, v in d["by_evaluator"].items()}
    return {
        "data": data,
        "blur": blur,
        "floor": floor,
        "n_edits": report.n_edits,
        "success": success,
        "relative_success": {k: success[k] / max(truth_success[k], 1e-9) for k in success},
        "manipulation": {k: v["manipulation"]["mean"] for k, v in d["by_evaluator"].items()},
        "closer": gt["closer"]["mean"],
        "closer_by_attribute": {k: v for k, v in gt["closer"].items() if k != "mean"},
        "error_removed": gt["error_removed"]["mean"],
        "outside_error": gt["outside_error"]["mean"],
        "ssim": gt["ssim"]["mean"],
        "ssim_outside": gt["ssim_outside"]["mean"],
    }


def combined(rows: list[dict]) -> dict:
    """The rule's view of one pair scored on several datasets: every dataset's relative success must pass,
    and the objective is the mean of their ``closer``."""
    return {
        "blur": rows[0]["blur"],
        "floor": rows[0]["floor"],
        "relative_success": {f"{r['data']} {k}": v for r in rows for k, v in r["relative_success"].items()},
        "closer": sum(r["closer"] for r in rows) / len(rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a masked editor (run, export or asset:NAME)")
    ap.add_argument(
        "--data",
        required=True,
        action="append",
        help="a SynthFashion dataset (the exact truth is rendered); repeat it to require the rule on each",
    )
    ap.add_argument("--limit", type=int, default=400, help="test images (5 edits each)")
    ap.add_argument("--blur", default="0,0.25,0.5,0.75", help="content blur sigmas (pixels) to try")
    ap.add_argument("--floor", default="0,0.05,0.1,0.15,0.2", help="mask floors to try")
    ap.add_argument("--min-relative-success", type=float, default=0.9, help="success / the truth's, every evaluator")
    ap.add_argument("--evaluator", action="append", help="evaluator (repeatable; default: the shipped ones)")
    ap.add_argument("--out", help="write the table and the choice as JSON here")
    args = ap.parse_args()
    blurs, floors = _floats(args.blur), _floats(args.floor)
    torch.set_num_threads(1)
    editor = load(args.model)
    if not editor.has_attention:
        raise SystemExit(f"{args.model}: no attention mask (content_blur and mask_floor are masked editors' settings)")
    names = args.evaluator or default_evaluators(editor.preprocess.size, editor.space.names)
    evaluators = {name: load(name) for name in names}
    worlds = {}
    for data in args.data:
        ev = EditEvaluation(data, evaluators, editor.preprocess, limit=args.limit, progress=False, gallery_split="test")
        if not ev.ground_truth:
            raise SystemExit(f"{data}: not a SynthFashion dataset (the rule needs the exact truth)")
        truth, _, _ = ev.run(ground_truth_method(ev.targets_uint8), "ground truth")
        truth_success = {k: v["success"]["mean"] for k, v in truth.to_dict()["by_evaluator"].items()}
        worlds[data] = ev, truth_success
        print(f"{data}: ground truth success {', '.join(f'{k} {100 * v:.1f}' for k, v in truth_success.items())}")
    print(
        "| data | content blur | mask floor | success (per evaluator) | / truth's | closer mean (per attribute) "
        "| error removed | outside error | GT SSIM (outside) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows, pairs = [], []
    for blur in blurs:
        for floor in floors:
            pair = [_score(ev, editor, data, blur, floor, truth) for data, (ev, truth) in worlds.items()]
            for row in pair:
                per_attr = " / ".join(f"{100 * v:.0f}" for v in row["closer_by_attribute"].values())
                print(
                    f"| {row['data']} | {blur:g} | {floor:g} | "
                    f"{' / '.join(f'{100 * v:.1f}' for v in row['success'].values())} | "
                    f"{' / '.join(f'{100 * v:.1f}%' for v in row['relative_success'].values())} | "
                    f"{100 * row['closer']:.1f} ({per_attr}) | {100 * row['error_removed']:+.1f}% | "
                    f"{row['outside_error']:.2f} | {row['ssim']:.3f} ({row['ssim_outside']:.3f}) |",
                    flush=True,
                )
            rows += pair
            pairs.append(combined(pair))
    best = choose(pairs, args.min_relative_success)
    print(f"evaluators: {', '.join(evaluators)}; {rows[0]['n_edits']} edits of each of {', '.join(args.data)}")
    if best is None:
        print(
            f"no setting keeps success >= {args.min_relative_success:.0%} of the truth's under every evaluator "
            "on every dataset"
        )
    else:
        print(
            f"chosen: content_blur {best['blur']:g}, mask_floor {best['floor']:g} (closer {100 * best['closer']:.1f}% "
            f"mean over the datasets; success {min(best['relative_success'].values()):.1%} of the truth's or more)\n"
            f"export: fashionlab export RUN model.generator.content_blur={best['blur']:g} "
            f"model.generator.mask_floor={best['floor']:g}"
        )
    if args.out:
        out = {"model": args.model, "data": args.data, "truth_success": {d: w[1] for d, w in worlds.items()}}
        out.update(min_relative_success=args.min_relative_success, rows=rows, pairs=pairs, chosen=best)
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
