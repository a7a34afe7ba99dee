"""How well can the editors' generator draw an edit at all? Paired L1 training toward the exact truth.

    python bench/bench_paired_capacity.py --data sf64 --eval-data sf64-s50 --steps 1500 \
        --variant base=width=32,residual_blocks=4,attention=true \
        --variant skips=width=32,residual_blocks=4,attention=true,skips=true --threads 1

Each variant is the StarGAN-family generator (:class:`fashionlab.models.editing.networks.Generator`) with the
given ``model.generator`` settings, trained with nothing but an L1 loss toward the exact SynthFashion
re-render of the person with one attribute changed (Adam 2e-4 (0.5, 0.999), batch 16, the manipulation code
of the editors). No critic, no cycle, no classifier: this isolates what the network can draw at a budget
from what the unpaired losses teach it. Every ``--eval-every`` steps it scores held-out edits of
``--eval-data`` (a seed no training saw) with :func:`fashionlab.metrics.edit_gain.edit_gain`: the share of
edits whose output is closer to the truth than the input inside the exact edit region (per attribute), the
error removed there, and the error outside it. Pairs are rendered once into ``--cache`` (reused by later
calls with the same settings). Prints a Markdown table and writes ``--out`` JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fashionlab.config import from_dict, parse_overrides
from fashionlab.data.imaging import normalise, resize_mask, resize_rgb
from fashionlab.data.loader import FashionDataset
from fashionlab.fileio import atomic_write
from fashionlab.metrics.edit_gain import edit_gain
from fashionlab.models.editing.codes import AttributeSpace
from fashionlab.models.editing.networks import Generator, GeneratorConfig
from fashionlab.synth.ground_truth import edit_region, item_render_args
from fashionlab.synth.render import render


def render_pairs(ds: FashionDataset, n: int, seed: int, regions: bool) -> dict[str, np.ndarray]:
    """``n`` random items of ``ds``, each with one attribute changed to another value at random: inputs,
    exact targets (uint8 (n, H, W, 3)), labels, targets (n, M), changed (n,), and with ``regions`` the exact
    edit regions (n, H, W)."""
    space = AttributeSpace([(s.name, list(s.values)) for s in ds.specs])
    g = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(ds), generator=g)[:n]
    labels = torch.as_tensor(ds.labels[rows.numpy()])
    targets, changed = space.random_targets(labels, g)
    native = tuple(ds.schema.image_size)
    inputs, outs, masks = [], [], []
    for i, row, a in zip(rows.tolist(), targets.tolist(), changed.tolist(), strict=True):
        item = ds.items[i]
        args = item_render_args(item)
        wanted = {s.name: s.values[v] for s, v in zip(ds.specs, row, strict=True)}
        kw = dict(size=native, framing=args["framing"], regions=args["regions"])
        inputs.append(
            resize_rgb(render(args["seed"], args["attributes"], args["pose"], **kw).image, ds.size, ds.resize)
        )
        image = render(args["seed"], {**args["attributes"], **wanted}, args["pose"], **kw).image
        outs.append(resize_rgb(image, ds.size, ds.resize))
        if regions:
            region = edit_region(args["seed"], args["attributes"], ds.specs[a].name, args["pose"], **kw)
            masks.append(resize_mask(region.astype(np.uint8), ds.size, ds.resize).astype(bool))
    bank = {
        "inputs": np.stack(inputs),
        "targets_rgb": np.stack(outs),
        "labels": labels.numpy(),
        "targets": targets.numpy(),
        "changed": changed.numpy(),
    }
    if regions:
        bank["regions"] = np.stack(masks)
    return bank


def cached_pairs(ds, n, seed, regions, cache: Path, tag: str) -> dict[str, np.ndarray]:
    file = cache / f"{tag}-{n}-{seed}.npz"
    if file.is_file():
        with np.load(file) as z:
            return dict(z)
    bank = render_pairs(ds, n, seed, regions)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write(file, lambda f: np.savez(f, **bank))
    return bank


def parse_variant(text: str) -> tuple[str, GeneratorConfig]:
    name, _, settings = text.partition("=")
    return name, from_dict(GeneratorConfig, parse_overrides([p for p in settings.split(",") if p]))


@torch.no_grad()
def score(G, space, bank, names) -> dict[str, float]:
    G.eval()
    outs = []
    for s in range(0, len(bank["inputs"]), 64):
        x = normalise(bank["inputs"][s : s + 64])
        code = space.code(torch.as_tensor(bank["targets"][s : s + 64]), torch.as_tensor(bank["changed"][s : s + 64]))
        y, _ = G(x, code)
        outs.append(((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    G.train()
    gain = edit_gain(bank["inputs"], np.concatenate(outs), bank["targets_rgb"], bank["regions"])
    result = {f"closer {n}": float(np.nanmean(gain["closer"][bank["changed"] == a])) for a, n in enumerate(names)}
    result["closer mean"] = float(np.mean([result[f"closer {n}"] for n in names]))
    result["error removed"] = float(np.nanmean(gain["error_removed"]))
    result["outside error"] = float(np.nanmean(gain["outside_error"]))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="SynthFashion training data (its train split)")
    ap.add_argument("--eval-data", required=True, help="SynthFashion data of another seed (its test split)")
    ap.add_argument("--variant", action="append", required=True, help="NAME=key=value,... (model.generator)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--n-train", type=int, default=4000, help="rendered training pairs")
    ap.add_argument("--n-eval", type=int, default=400, help="held-out edits scored")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path(".cache/paired-capacity"))
    ap.add_argument("--out", type=Path, help="JSON of every evaluation")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = (args.size, args.size)
    train_ds = FashionDataset(args.data, "train", size=size, progress=False)
    eval_ds = FashionDataset(args.eval_data, "test", size=size, progress=False)
    space = AttributeSpace([(s.name, list(s.values)) for s in train_ds.specs])
    names = space.names
    t0 = time.time()
    train = cached_pairs(train_ds, args.n_train, args.seed, False, args.cache, f"train-{Path(args.data).name}")
    held = cached_pairs(eval_ds, args.n_eval, args.seed + 1, True, args.cache, f"eval-{Path(args.eval_data).name}")
    print(f"pairs ready in {time.time() - t0:.0f} s", flush=True)
    x_all, y_all = normalise(train["inputs"]), normalise(train["targets_rgb"])
    codes = space.code(torch.as_tensor(train["targets"]), torch.as_tensor(train["changed"]))
    records = []
    for name, cfg in map(parse_variant, args.variant):
        torch.manual_seed(args.seed)
        G = Generator(space.code_dim, cfg)
        opt = torch.optim.Adam(G.parameters(), args.lr, betas=(0.5, 0.999))
        start = time.time()
        for step in range(1, args.steps + 1):
            idx = torch.randint(len(x_all), (args.batch_size,))
            x, y = x_all[idx], y_all[idx]
            flip = torch.rand(len(idx)) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            y = torch.where(flip[:, None, None, None], y.flip(-1), y)
            out, _ = G(x, codes[idx])
            loss = F.l1_loss(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % args.eval_every == 0 or step == args.steps:
                r = {"variant": name, "step": step, "s/step": (time.time() - start) / step, "l1": float(loss.detach())}
                r.update(score(G, space, held, names))
                records.append(r)
                print(json.dumps(r), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(records, indent=1))
    cols = [f"closer {n}" for n in names] + ["closer mean", "error removed", "outside error"]
    print("\n| variant | step | s/step | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for r in records:
        vals = " | ".join(f"{100 * r[c]:.1f}" if c != "outside error" else f"{r[c]:.2f}" for c in cols)
        print(f"| {r['variant']} | {r['step']} | {r['s/step']:.3f} | {vals} |")


if __name__ == "__main__":
    main()
