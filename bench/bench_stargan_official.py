"""StarGAN's training iteration, the official networks against ours, timed in one process (issue #15, §5).

    git clone https://github.com/yunjey/stargan /tmp/stargan      # the official code: read at run time, never committed
    python bench/bench_stargan_official.py --official /tmp/stargan --threads 2

Both run the same iteration, the official solver's math (``solver.py``'s ``train``): a critic update (WGAN
real/fake terms, attribute BCE summed over labels / batch, gradient penalty 10 on an interpolate) every
iteration and a generator update (adversarial, BCE toward the target labels, cycle L1 10) every
``--n-critic`` iterations, Adam 1e-4 (0.5, 0.999), fp32, random images and labels (data loading is not
timed). The official networks come from ``model.py`` of the given checkout (``Generator(conv_dim, c_dim,
repeat_num)``, ``Discriminator(image_size, conv_dim, c_dim, repeat_num)``); ours are
``fashionlab.models.editing.networks`` at the same architecture (width 64, 6 residual blocks, 6 critic layers
without a channel cap). The two alternate in rounds so a busy machine slows both alike; the script prints
s/iteration for each and the ratio ours / official. Options: ``--channels-last`` runs ours in that memory
format; ``--lean`` runs ours with the same math and less work (:func:`iteration_lean`).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fashionlab.models.editing.networks import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig


def load_official(path: Path):
    """The official ``model.py`` as a module (from a checkout of yunjey/stargan)."""
    file = path / "model.py"
    if not file.is_file():
        sys.exit(f"{file} not found: pass --official PATH, a checkout of https://github.com/yunjey/stargan")
    spec = importlib.util.spec_from_file_location("official_stargan_model", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Ours(torch.nn.Module):
    """Our networks behind the official call signatures: ``G(x, c)`` -> image, ``D(x)`` -> (src, cls)."""

    def __init__(self, c_dim: int, image_size: int):
        super().__init__()
        self.G = Generator(c_dim, GeneratorConfig(width=64, residual_blocks=6))
        self.D = Discriminator((image_size, image_size), c_dim, DiscriminatorConfig(64, 6, 1 << 30))


def gradient_penalty(D, real, fake):
    alpha = torch.rand(real.size(0), 1, 1, 1)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out, _ = D(x_hat)
    grad = torch.autograd.grad(out, x_hat, torch.ones_like(out), create_graph=True, retain_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def iteration(G, D, g_gen, d_opt, g_opt, x, c_org, c_trg, step: int, n_critic: int) -> None:
    """One iteration of the official solver's math (see the module docstring)."""
    bce = F.binary_cross_entropy_with_logits
    out_src, out_cls = D(x)
    d_real = -out_src.mean()
    d_cls = bce(out_cls, c_org, reduction="sum") / x.size(0)
    fake = g_gen(x, c_trg)
    out_src, _ = D(fake.detach())
    d_fake = out_src.mean()
    gp = gradient_penalty(D, x, fake.detach())
    d_loss = d_real + d_fake + d_cls + 10 * gp
    d_opt.zero_grad()
    d_loss.backward()
    d_opt.step()
    if (step + 1) % n_critic == 0:
        fake = g_gen(x, c_trg)
        out_src, out_cls = D(fake)
        g_loss = -out_src.mean() + bce(out_cls, c_trg, reduction="sum") / x.size(0)
        rec = g_gen(fake, c_org)
        g_loss = g_loss + 10 * (x - rec).abs().mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()


def iteration_lean(G, D, g_gen, d_opt, g_opt, x, c_org, c_trg, step: int, n_critic: int) -> None:
    """The same math as :func:`iteration` with less work (``--lean``, ours only), as fashionlab's solver does
    it: the critic's fake is generated without an autograd graph, real and fake go through D in one batch (D
    has no normalisation, so each image's scores are the same), and in the generator update D's weights take
    no gradients (the official code computes them and discards them at the next zero_grad)."""
    bce = F.binary_cross_entropy_with_logits
    n = x.size(0)
    with torch.no_grad():
        fake = g_gen(x, c_trg)
    out_src, out_cls = D(torch.cat([x, fake]))
    d_real, d_fake = -out_src[:n].mean(), out_src[n:].mean()
    d_cls = bce(out_cls[:n], c_org, reduction="sum") / n
    gp = gradient_penalty(D, x, fake)
    d_loss = d_real + d_fake + d_cls + 10 * gp
    d_opt.zero_grad()
    d_loss.backward()
    d_opt.step()
    if (step + 1) % n_critic == 0:
        D.requires_grad_(False)
        fake = g_gen(x, c_trg)
        out_src, out_cls = D(fake)
        g_loss = -out_src.mean() + bce(out_cls, c_trg, reduction="sum") / n
        rec = g_gen(fake, c_org)
        g_loss = g_loss + 10 * (x - rec).abs().mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        D.requires_grad_(True)


def make(kind: str, args, official):
    if kind == "official":
        G = official.Generator(64, args.c_dim, 6)
        D = official.Discriminator(args.image_size, 64, args.c_dim, 6)

        def generate(x, c):
            return G(x, c)
    else:
        nets = Ours(args.c_dim, args.image_size)
        G, D = nets.G, nets.D
        if args.channels_last:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)

        def generate(x, c):
            return G(x, c)[0]

    opts = (
        torch.optim.Adam(D.parameters(), 1e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(G.parameters(), 1e-4, betas=(0.5, 0.999)),
    )
    return G.train(), D.train(), generate, opts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", type=Path, required=True, help="a checkout of yunjey/stargan")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--c-dim", type=int, default=5, help="attribute labels (the official CelebA setting: 5)")
    ap.add_argument("--n-critic", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=10, help="timed iterations per round (a multiple of n-critic)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--lean", action="store_true", help="ours with the same math and less work (iteration_lean)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    official = load_official(args.official)
    x = torch.rand(args.batch_size, 3, args.image_size, args.image_size) * 2 - 1
    c_org = (torch.rand(args.batch_size, args.c_dim) < 0.5).float()
    c_trg = c_org[torch.randperm(args.batch_size)]
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    setups = {k: make(k, args, official) for k in ("official", "ours")}
    times: dict[str, list[float]] = {k: [] for k in setups}
    steps = {"official": iteration, "ours": iteration_lean if args.lean else iteration}
    for k, (G, D, gen, (d_opt, g_opt)) in setups.items():  # warm-up: one generator step each
        for s in range(args.n_critic):
            steps[k](G, D, gen, d_opt, g_opt, x, c_org, c_trg, s, args.n_critic)
    for _ in range(args.rounds):
        for k, (G, D, gen, (d_opt, g_opt)) in setups.items():
            t = time.perf_counter()
            for s in range(args.iterations):
                steps[k](G, D, gen, d_opt, g_opt, x, c_org, c_trg, s, args.n_critic)
            times[k].append((time.perf_counter() - t) / args.iterations)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k}: {v:.3f} s/iteration (median of {args.rounds} rounds: {', '.join(f'{t:.3f}' for t in times[k])})")
    print(
        f"ours / official: {med['ours'] / med['official']:.2f} ({args.image_size} px, batch {args.batch_size}, "
        f"fp32, {args.threads} threads{', ours channels_last' if args.channels_last else ''}"
        f"{', ours lean' if args.lean else ''})"
    )


if __name__ == "__main__":
    main()
