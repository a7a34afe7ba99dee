"""Re-posing speed and memory: the training iteration at the official widths and at the cpu presets, the
attention's memory and time at three resolutions, and the on-the-fly heatmaps.

    python bench/bench_pose_speed.py iteration [--threads 2] [--batch 8] [--steps 3]
    python bench/bench_pose_speed.py attention [--threads 2]
    python bench/bench_pose_speed.py heatmaps

``iteration``: one full training step (G forward/backward through both discriminators, then both
discriminators) of XingGAN at the official Market widths (ngf 64, nine blocks, 44.9M-parameter G, two
ResNet discriminators) at 128x64, fp32 and bf16, plus the two cpu presets; ours alone (the ratio to the
official code comes from ``bench/bench_xinggan_official.py``, which times both in one process). Also checks
that the SDPA and plain attention give the same fp32 output.
``attention``: for 128x64, 128x128 and 256x176 (512, 1,024 and 2,816 positions per Xing block), a forward
and backward of the official-width generator at batch 2 with the memory-efficient SDPA attention and with
the plain softmax(QK^T)V, each in its own process: peak resident memory (``ru_maxrss``) and seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def _task_like_step(G, D_shape, D_app, batch: int, size: tuple[int, int], precision: str) -> None:
    """What ReposeTask.train_step computes, on random tensors (no data loading)."""
    from fashionlab.losses.reposing import gan_loss

    h, w = size
    src, tgt = torch.rand(batch, 3, h, w) * 2 - 1, torch.rand(batch, 3, h, w) * 2 - 1
    bp1, bp2 = torch.rand(batch, 18, h, w), torch.rand(batch, 18, h, w)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    with ctx:
        fake = G(src, bp1, bp2)
        g = gan_loss(D_shape(torch.cat([fake, bp2], 1)), True)[0] + gan_loss(D_app(torch.cat([fake, src], 1)), True)[0]
    (g + (fake.float() - tgt).abs().mean()).backward()
    fake = fake.detach().float()
    with ctx:
        d = gan_loss(D_app(torch.cat([tgt, src], 1)), True)[0] + gan_loss(D_app(torch.cat([fake, src], 1)), False)[0]
        d = d + gan_loss(D_shape(torch.cat([tgt, bp2], 1)), True)[0]
        d = d + gan_loss(D_shape(torch.cat([fake, bp2], 1)), False)[0]
    d.backward()


def iteration(args) -> None:
    from fashionlab.config import resolve_config
    from fashionlab.engine.task import OptimizerConfig, make_optimizer
    from fashionlab.models import MODELS
    from fashionlab.models.reposing.networks import (
        PatnGenerator,
        PoseDiscriminator,
        XingGenerator,
        XingGeneratorConfig,
    )

    torch.set_num_threads(args.threads)
    rows = []
    setups = [
        ("xinggan official widths", "paper", XingGenerator, "fp32"),
        ("xinggan official widths", "paper", XingGenerator, "bf16"),
    ]
    setups += [("xinggan cpu preset", "cpu", XingGenerator, None), ("patn cpu preset", "cpu", PatnGenerator, None)]
    for label, preset, cls, precision in setups:
        name = "xinggan" if cls is XingGenerator else "patn"
        cfg = resolve_config(MODELS.get(name).config, model=name, preset=preset)
        precision = precision or cfg.train.precision
        torch.manual_seed(0)
        G = cls(cfg.generator)
        D_shape, D_app = PoseDiscriminator(21, cfg.discriminator), PoseDiscriminator(6, cfg.discriminator)
        opts = [make_optimizer(n.parameters(), OptimizerConfig(lr=2e-4)) for n in (G, D_shape, D_app)]
        size = tuple(cfg.image_size)
        times = []
        for _ in range(args.steps + 1):
            t = time.perf_counter()
            _task_like_step(G, D_shape, D_app, args.batch, size, precision)
            for o in opts:
                o.step()
                o.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t)
        per = sorted(times[1:])[len(times[1:]) // 2]
        params = sum(p.numel() for p in G.parameters())
        rows.append(
            {
                "setup": label,
                "precision": precision,
                "size": size,
                "batch": args.batch,
                "G_params": params,
                "s_per_iteration": round(per, 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    # SDPA and plain attention: the same output in fp32
    torch.manual_seed(0)
    a = XingGenerator(XingGeneratorConfig(dropout=0.0, attention="sdpa")).eval()
    b = XingGenerator(XingGeneratorConfig(dropout=0.0, attention="plain")).eval()
    b.load_state_dict(a.state_dict())
    for blk in list(a.blocks) + list(b.blocks):
        blk.cross_attention.gamma.data.fill_(0.5)
    x, p1, p2 = torch.rand(2, 3, 128, 64), torch.rand(2, 18, 128, 64), torch.rand(2, 18, 128, 64)
    with torch.no_grad():
        diff = (a(x, p1, p2) - b(x, p1, p2)).abs().max().item()
    print(json.dumps({"sdpa_vs_plain_max_abs_diff_fp32": diff}))


def _attention_child(impl: str, h: int, w: int, batch: int, threads: int) -> None:
    from fashionlab.models.reposing.networks import XingGenerator, XingGeneratorConfig

    torch.set_num_threads(threads)
    G = XingGenerator(XingGeneratorConfig(attention=impl))
    x, p1, p2 = torch.rand(batch, 3, h, w), torch.rand(batch, 18, h, w), torch.rand(batch, 18, h, w)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    G(x, p1, p2).mean().backward()
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"attention": impl, "size": [h, w], "positions": (h // 4) * (w // 4), "batch": batch,
                      "seconds_fwd_bwd": round(seconds, 2), "peak_rss_gib": round(peak / 2**20, 2),
                      "step_rss_gib": round((peak - base) / 2**20, 2)}), flush=True)  # fmt: skip


def attention(args) -> None:
    for h, w in [(128, 64), (128, 128), (256, 176)]:
        for impl in ("sdpa", "plain"):
            cmd = [
                sys.executable,
                __file__,
                "_child",
                impl,
                str(h),
                str(w),
                str(args.batch_attention),
                str(args.threads),
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            print(res.stdout.strip() or res.stderr.strip()[-500:], flush=True)


def heatmaps(args) -> None:
    from fashionlab.data.keypoints import heatmaps_torch

    torch.set_num_threads(1)
    kps = torch.rand(args.batch, 18, 2) * torch.tensor([64.0, 128.0])
    kps[:, ::5] = -1
    for size in [(128, 64), (256, 176)]:
        t = time.perf_counter()
        for _ in range(50):
            heatmaps_torch(kps, *size)
        ms = (time.perf_counter() - t) / 50 * 1000
        print(json.dumps({"heatmaps": "one batch of poses", "size": size, "batch": args.batch, "ms": round(ms, 2)}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        impl, h, w, batch, threads = sys.argv[2:7]
        _attention_child(impl, int(h), int(w), int(batch), int(threads))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["iteration", "attention", "heatmaps"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batch-attention", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    {"iteration": iteration, "attention": attention, "heatmaps": heatmaps}[args.what](args)


if __name__ == "__main__":
    main()
