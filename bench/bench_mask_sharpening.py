"""Does a sharper attention mask at inference make an editor's edits right in the pixels? (issue #15, §2)

    python bench/bench_mask_sharpening.py --model src/fashionlab/assets/amgan-synth64 --data sf64-s50 --limit 100

The editor's own edit mask m is replaced by a sharper one and the edit recomposed as m' * G(x) + (1 - m') * x
(``Editor.generate`` with ``region=m'``): ``floor T`` is clamp((m - T) / (1 - T), 0, 1) (the soft tail below
T cut, the rest rescaled), ``hard T`` is m > T. ``lowpass S`` keeps the mask and blurs the change instead:
x + blur_S(x* - x), a Gaussian of sigma S pixels (:func:`fashionlab.models.editing.lowpass.gaussian_blur`):
how much of what the evaluators read lives in the change's finest detail (speckle). ``content-lowpass S``
blurs only the generator's content z (the output where the mask is 1; ``region`` of ones), recomposed as
m * blur_S(z) + (1 - m) * x, and ``mask-lowpass S`` only its mask, blur_S(m) * z + (1 - blur_S(m)) * x:
whether the speckle lives in the content head or in the mask. Each variant is scored
like ``fashionlab eval edit`` on the same edits (one per attribute per image, seed 0) under the shipped
evaluators that fit the editor: manipulation and success per evaluator, and on SynthFashion the edit gain
and the ground-truth figures.
"""

from __future__ import annotations

import argparse

import torch

from fashionlab.metrics.editing import EditEvaluation
from fashionlab.metrics.evaluators import default_evaluators
from fashionlab.models.editing.lowpass import gaussian_blur
from fashionlab.models.editing.networks import floor_mask
from fashionlab.models.registry import load


def sharpened(editor, kind: str, t: float):
    """A method (see ``fashionlab.metrics.editing``) running ``editor`` with its mask sharpened."""

    @torch.no_grad()
    def run(x, labels, targets, changed, indices):
        del labels, indices
        out, m = editor.generate(x, targets, changed)
        if kind == "as trained":
            return out, m
        if kind == "lowpass":
            return x + gaussian_blur(out.float() - x, t), m
        if kind in ("content-lowpass", "mask-lowpass"):
            content, _ = editor.generate(x, targets, changed, region=torch.ones_like(m))
            content, m = content.float(), m.float()
            if kind == "content-lowpass":
                content = gaussian_blur(content, t)
            else:
                m = gaussian_blur(m, t).clamp(0, 1)
            return m * content + (1 - m) * x, m
        m2 = (m > t).float() if kind == "hard" else floor_mask(m, t)
        return editor.generate(x, targets, changed, region=m2)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an editor with attention masks (export, run or asset:NAME)")
    ap.add_argument("--data", required=True, help="a SynthFashion dataset (the exact truth is rendered)")
    ap.add_argument("--limit", type=int, default=100, help="test images (5 edits each)")
    ap.add_argument(
        "--variants",
        default="as trained:0,floor:0.2,floor:0.4,hard:0.5",
        help="KIND:VALUE,... with KIND as trained, floor, hard, lowpass, content-lowpass or mask-lowpass",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    editor = load(args.model)
    if not editor.has_attention:
        raise SystemExit(f"{args.model} has no attention mask to sharpen")
    evaluators = {name: load(name) for name in default_evaluators(editor.preprocess.size, editor.space.names)}
    ev = EditEvaluation(
        args.data, evaluators, editor.preprocess, limit=args.limit, progress=False, gallery_split="test"
    )
    print(
        "| mask | manipulation (per evaluator) | success (per evaluator) | closer (per attribute) | error removed "
        "| outside error | GT SSIM (outside) |"
    )
    print("|---|---|---|---|---|---|---|")
    for spec in args.variants.split(","):
        kind, t = spec.split(":")
        report, _, _ = ev.run(sharpened(editor, kind, float(t)), spec)
        d, gt = report.to_dict(), report.gt
        man = " / ".join(f"{100 * v['manipulation']['mean']:.1f}" for v in d["by_evaluator"].values())
        suc = " / ".join(f"{100 * v['success']['mean']:.1f}" for v in d["by_evaluator"].values())
        closer = " / ".join(f"{100 * v:.0f}" for k, v in gt["closer"].items() if k != "mean")
        print(
            f"| {spec} | {man} | {suc} | {100 * gt['closer']['mean']:.1f} ({closer}) | "
            f"{100 * gt['error_removed']['mean']:+.1f}% | {gt['outside_error']['mean']:.2f} | "
            f"{gt['ssim']['mean']:.3f} ({gt['ssim_outside']['mean']:.3f}) |",
            flush=True,
        )
    print(f"evaluators: {', '.join(evaluators)}; {report.n_edits} edits of {args.data}")


if __name__ == "__main__":
    main()
