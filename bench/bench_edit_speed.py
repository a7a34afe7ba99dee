"""Seconds per training iteration of the editors (one critic update with gradient penalty per iteration,
a generator update every n_critic), through the real trainer, in a throwaway run folder.

    python bench/bench_edit_speed.py --data sf64 --model stargan --preset cpu \\
        --set model.generator.width=64 model.generator.residual_blocks=6 model.discriminator.width=64 \\
              model.discriminator.layers=6 model.discriminator.max_width=2048 --precision fp32 bf16

The official StarGAN architecture at 64 px is ``model.generator.width=64 model.generator.residual_blocks=6
model.discriminator.width=64 model.discriminator.layers=6 model.discriminator.max_width=2048``.
Prints one line per precision: s/iteration (mean over the timed steps, after ``--warmup`` steps).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from fashionlab.config import resolve_config
from fashionlab.engine.logger import read_stats
from fashionlab.engine.trainer import Trainer
from fashionlab.models import MODELS, build_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="stargan")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--set", nargs="*", default=[], help="key=value overrides")
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="timed iterations (a multiple of --warmup and n_critic)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = MODELS.get(args.model)
    for precision in args.precision:
        with tempfile.TemporaryDirectory() as out:
            overrides = [
                f"data={args.data}",
                f"train.out={out}",
                f"train.precision={precision}",
                f"train.steps={args.warmup + args.steps}",
                f"train.log_every={args.warmup}",
                "train.sample_every=0",
                "train.ckpt_every=0",
                *args.set,
            ]
            cfg = resolve_config(spec.config, model=args.model, preset=args.preset, overrides=overrides)
            t0 = time.perf_counter()
            run = Trainer(build_task(args.model, cfg), cfg, train=cfg.train, progress=False).fit()
            timed = [r for r in read_stats(run) if r["step"] > args.warmup]  # equal intervals after the warm-up
            s_per_it = sum(1 / r["it_per_s"] for r in timed) / len(timed)
            params = {k: sum(p.numel() for p in n.parameters()) for k, n in build_task(args.model, cfg).nets.items()}
            print(
                json.dumps(
                    {
                        "model": args.model,
                        "precision": precision,
                        "s_per_iteration": round(s_per_it, 3),
                        "n_critic": cfg.n_critic,
                        "batch": cfg.train.batch_size,
                        "image_size": cfg.image_size,
                        "params": params,
                        "threads": torch.get_num_threads(),
                        "wall_s": round(time.perf_counter() - t0, 1),
                    }
                )
            )


if __name__ == "__main__":
    main()
