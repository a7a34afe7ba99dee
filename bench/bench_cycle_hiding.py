"""Does an editor hide the input in its edit for the cycle to read back? (issue #15: where speckle comes from)

    python bench/bench_cycle_hiding.py --model src/fashionlab/assets/amgan-synth64 --data sf64-s50 --n 200

A generator trained with a cycle loss can encode what it removed (the old colour, the old sleeve) in a
faint high-frequency signal of x* that its reverse pass decodes ("CycleGAN, a master of steganography",
Chu et al. 2017). If it does, a little noise on x* before the reverse pass G(x*, source) should spoil the
reconstruction far beyond the noise itself. For the first ``--n`` test images (one random single-attribute
edit each, seed 0), this prints the reverse pass's mean |G(input, source) - x| (grey levels) per edited
attribute for: x* as made; x* plus Gaussian noise of 2, 4, 8 grey levels; x itself (what the reverse pass
changes in an image that needs no change: its floor) and x plus the same noise (the control: the noise's
own cost where nothing can be hidden). Hiding shows as noise costing far more on x* than on x.
"""

from __future__ import annotations

import argparse

import torch

from fashionlab.data.loader import FashionDataset
from fashionlab.models.registry import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an editor (export, run or asset:NAME)")
    ap.add_argument("--data", required=True, help="a dataset at the editor's size")
    ap.add_argument("--n", type=int, default=200, help="test images (one edit each)")
    ap.add_argument("--noise", default="2,4,8", help="noise standard deviations, grey levels")
    args = ap.parse_args()
    noise_levels = [float(v) for v in args.noise.split(",")]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    editor = load(args.model).eval()
    ds = FashionDataset(args.data, split="test", size=editor.preprocess.size, resize=editor.preprocess.resize)
    n = min(args.n, len(ds))
    x = torch.stack([ds[i]["image"] for i in range(n)])
    labels = torch.from_numpy(ds.labels[:n].copy())
    targets, changed = editor.space.random_targets(labels)
    names = editor.space.names

    def reverse_error(inputs: torch.Tensor) -> torch.Tensor:
        back, _ = editor.generate(inputs, labels, changed)
        return (back.float() - x).abs().mean((1, 2, 3)) * 127.5

    with torch.no_grad():
        edited, _ = editor.generate(x, targets, changed)
        edited = edited.float()
        rows = {"x* as made": reverse_error(edited)}
        for s in noise_levels:
            noisy = (edited + torch.randn_like(edited) * s / 127.5).clamp(-1, 1)
            rows[f"x* + noise of {s:g} grey levels"] = reverse_error(noisy)
        rows["x (nothing to undo)"] = reverse_error(x)
        for s in noise_levels:  # the control: the same noise where nothing can be hidden
            rows[f"x + noise of {s:g} grey levels"] = reverse_error((x + torch.randn_like(x) * s / 127.5).clamp(-1, 1))
        change = (edited - x).abs().mean().item() * 127.5
    print("| reverse pass input | mean error to x | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, err in rows.items():
        per = " | ".join(f"{err[changed == a].mean():.2f}" for a in range(len(names)))
        print(f"| {label} | {err.mean():.2f} | {per} |")
    print(f"{n} edits of {args.data}; mean |x* - x| {change:.2f} grey levels")


if __name__ == "__main__":
    main()
