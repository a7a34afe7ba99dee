"""XingGAN's training iteration at the official Market widths, the official code against ours, timed in one
process (issue #16, section 5).

    git clone https://github.com/Ha0Tang/XingGAN /tmp/xinggan     # the official code: read at run time, never committed
    python bench/bench_xinggan_official.py --official /tmp/xinggan --threads 2 [--fp32 | --bf16]
        [--rounds 2 --iterations 2] [--compare-attention] [--profile-iterations 2]

The official networks come from the checkout's ``models/networks.py`` (``define_G([3, 36], 3, 64, 'Xing',
'batch', True, 'normal')``: nine Xing blocks, 44.9M parameters; ``define_D(21 | 6, 64, 'resnet', 3, 'batch',
True, 'normal', [], True)``: the ResNet discriminators with dropout and a sigmoid) with its ``GANLoss``
(``nn.BCELoss``, ``--no_lsgan``) and its ``util/image_pool.py`` (pool 50), built at the Market settings of
``train_market.sh`` (``--norm batch --no_lsgan --lambda_GAN 5 --lambda_A 50 --lambda_B 50 --L1_type
l1_plus_perL1 --with_D_PP 1 --with_D_PB 1``, Adam 2e-4 (0.5, 0.999), dropout on in G and D). Only those
two files are imported (no torchvision, no CUDA, nothing of ``XingGAN.py``): no shim is needed. Ours are
:class:`~fashionlab.models.reposing.networks.XingGenerator` and two
:class:`~fashionlab.models.reposing.networks.PoseDiscriminator` at the same architecture (the parameter
counts are printed and must agree), their defaults except ``sigmoid=False`` (the training task's logits).

Each side runs one training iteration of the same math, the official ``TransferModel.optimize_parameters``:
``fake = G(P1, BP1, BP2)``; G's loss ``50 |fake - P2|_1 + 50 |phi(fake) - phi(P2)|_1 + 5 (BCE(D_PB(fake,
BP2), 1) + BCE(D_PP(fake, P1), 1)) / 2``, its backward and Adam step; then D_PP and D_PB each on
``0.5 x 5 (BCE(D(real), 1) + BCE(D(pool(fake)), 0))`` with their Adam steps. Batch 8 at 128x64 by default
(the official Market batch is 32; the brief's 8 keeps a round within minutes), random images and heatmaps,
no data loading.

- **official**: the code as written (``backward_G`` / ``backward_D_basic``): discriminator weights take
  gradients in G's backward (discarded at the next ``zero_grad``), sigmoid then ``BCELoss``, phi's target
  features computed with autograd and its weights' gradients computed too (the VGG is in no optimizer but
  not frozen), ``torch.optim.Adam`` as the official code builds it (the per-tensor loop on the CPU), the
  official ``ImagePool``;
- **ours**: what :meth:`fashionlab.models.reposing.task.ReposeTask.train_step` does: the discriminators
  frozen during G's step, logits and ``binary_cross_entropy_with_logits``
  (:func:`fashionlab.losses.reposing.gan_loss`), phi frozen and the target's features without autograd
  (:func:`~fashionlab.losses.reposing.l1_plus_perceptual`), one fused Adam over both discriminators
  (:func:`fashionlab.engine.task.make_optimizer`), our :class:`~fashionlab.models.reposing.task.ImagePool`,
  the attention path chosen per device (``"auto"``); in bf16, autocast around the networks as the task's
  ``ctx.autocast()``.

``phi``, the perceptual features: the official Market run uses ImageNet VGG19 up to relu1_2
(``perceptual_layers 3``: conv 3->64, ReLU, conv 64->64, ReLU at full resolution, after the ImageNet
normalisation), which cannot be downloaded here; both sides use the same stand-in, those four layers with
random weights (the same work as the pretrained ones).

The arms alternate within each round (official, ours fp32, ours bf16, ...) after one warm-up iteration each, so
a busy machine slows all alike; the script prints s/iteration per arm (median of the rounds) and the ratios
ours / official. ``--compare-attention`` adds ours in fp32 with the attention forced to ``sdpa`` (``ours
fp32`` runs ``auto``, which is ``plain`` on the CPU). Then it profiles ours in fp32 with ``torch.profiler``
on one thread (``--profile-iterations``) and prints the top operators by self CPU time and the time by kind
of operator (``--profile-official`` profiles the official iteration too).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fashionlab.engine.task import OptimizerConfig, make_optimizer
from fashionlab.losses.reposing import gan_loss, l1_plus_perceptual
from fashionlab.models.reposing.networks import (
    PoseDiscriminator,
    PoseDiscriminatorConfig,
    XingGenerator,
    XingGeneratorConfig,
)
from fashionlab.models.reposing.task import ImagePool

LAMBDA_L1, LAMBDA_PERCEPTUAL, LAMBDA_GAN, LR, BETAS, POOL = 50.0, 50.0, 5.0, 2e-4, (0.5, 0.999), 50
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_official(root: Path):
    """The checkout's ``models/networks.py`` (with ``models/model_variants.py``) and ``util/image_pool.py`` as
    modules. ``models`` is registered as a package rooted in the checkout (its ``networks.py`` imports
    ``models.model_variants``); nothing else of the checkout is imported."""
    models_dir = root / "models"
    if not (models_dir / "networks.py").is_file() or not (models_dir / "model_variants.py").is_file():
        sys.exit(f"{models_dir} has no networks.py / model_variants.py: pass --official, a checkout of Ha0Tang/XingGAN")
    if "models" in sys.modules:
        sys.exit("a module named 'models' is already imported; cannot load the official package under that name")
    spec = importlib.util.spec_from_file_location(
        "models", models_dir / "__init__.py", submodule_search_locations=[str(models_dir)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["models"] = package
    spec.loader.exec_module(package)
    networks = importlib.import_module("models.networks")
    spec = importlib.util.spec_from_file_location("official_xinggan_image_pool", root / "util" / "image_pool.py")
    image_pool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(image_pool)
    return networks, image_pool


def vgg_relu1_2() -> nn.Sequential:
    """The stand-in for VGG19 ``features[:4]`` (conv 3->64, ReLU, conv 64->64, ReLU), random weights."""
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(True), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(True))


def imagenet_normalise(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images to the ImageNet normalisation, as the official ``L1_plus_perceptualLoss``."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images + 1) / 2 - mean) / std


def parameters(module: nn.Module) -> int:
    """The number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


class Inputs:
    """One random batch: P1, P2 in [-1, 1] (B, 3, H, W) and BP1, BP2 in [0, 1] (B, 18, H, W)."""

    def __init__(self, batch: int, height: int, width: int):
        self.P1 = torch.rand(batch, 3, height, width) * 2 - 1
        self.P2 = torch.rand(batch, 3, height, width) * 2 - 1
        self.BP1 = torch.rand(batch, 18, height, width)
        self.BP2 = torch.rand(batch, 18, height, width)


class Official:
    """The official networks, loss and optimisers at the Market settings, and ``optimize_parameters``'s math."""

    def __init__(self, networks, image_pool, phi: nn.Module):
        with contextlib.redirect_stdout(io.StringIO()):  # define_G prints the init method
            self.G = networks.define_G([3, 36], 3, 64, "Xing", "batch", True, "normal", [], n_downsampling=2)
            self.D_PB = networks.define_D(21, 64, "resnet", 3, "batch", True, "normal", [], True, n_downsampling=2)
            self.D_PP = networks.define_D(6, 64, "resnet", 3, "batch", True, "normal", [], True, n_downsampling=2)
        self.criterionGAN = networks.GANLoss(use_lsgan=False, tensor=torch.Tensor)
        self.phi = phi  # not frozen, as the official VGG submodel
        self.pool_PP, self.pool_PB = image_pool.ImagePool(POOL), image_pool.ImagePool(POOL)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=LR, betas=BETAS)
        self.opt_D_PB = torch.optim.Adam(self.D_PB.parameters(), lr=LR, betas=BETAS)
        self.opt_D_PP = torch.optim.Adam(self.D_PP.parameters(), lr=LR, betas=BETAS)
        for net in (self.G, self.D_PB, self.D_PP):
            net.train()

    def perceptual(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``L1_plus_perceptualLoss.forward``'s total (l1 + perceptual, L1 distance of the features)."""
        loss_l1 = F.l1_loss(fake, target) * LAMBDA_L1
        fake_features = self.phi(imagenet_normalise(fake))
        target_features = self.phi(imagenet_normalise(target))
        return loss_l1 + F.l1_loss(fake_features, target_features.detach()) * LAMBDA_PERCEPTUAL

    def backward_D_basic(self, netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> None:
        loss_real = self.criterionGAN(netD(real), True) * LAMBDA_GAN
        loss_fake = self.criterionGAN(netD(fake.detach()), False) * LAMBDA_GAN
        ((loss_real + loss_fake) * 0.5).backward()

    def step(self, x: Inputs) -> None:
        """One ``optimize_parameters`` (with_D_PP, with_D_PB, DG_ratio 1)."""
        fake = self.G([x.P1, torch.cat((x.BP1, x.BP2), 1)])
        self.opt_G.zero_grad()
        gan_PB = self.criterionGAN(self.D_PB(torch.cat((fake, x.BP2), 1)), True)
        gan_PP = self.criterionGAN(self.D_PP(torch.cat((fake, x.P1), 1)), True)
        loss = self.perceptual(fake, x.P2) + (gan_PB * LAMBDA_GAN + gan_PP * LAMBDA_GAN) / 2
        loss.backward()
        self.opt_G.step()
        self.opt_D_PP.zero_grad()
        fake_PP = self.pool_PP.query(torch.cat((fake, x.P1), 1).data)
        self.backward_D_basic(self.D_PP, torch.cat((x.P2, x.P1), 1), fake_PP)
        self.opt_D_PP.step()
        self.opt_D_PB.zero_grad()
        fake_PB = self.pool_PB.query(torch.cat((fake, x.BP2), 1).data)
        self.backward_D_basic(self.D_PB, torch.cat((x.P2, x.BP2), 1), fake_PB)
        self.opt_D_PB.step()


class Ours:
    """Our networks at the official widths and :meth:`ReposeTask.train_step`'s way of computing the same math."""

    def __init__(self, phi: nn.Module, precision: str, attention: str = "auto"):
        self.G = XingGenerator(XingGeneratorConfig(attention=attention))
        config = PoseDiscriminatorConfig(sigmoid=False)
        self.D_shape, self.D_app = PoseDiscriminator(21, config), PoseDiscriminator(6, config)
        self.phi = phi.eval().requires_grad_(False)
        self.pools = {"D_app": ImagePool(POOL), "D_shape": ImagePool(POOL)}
        settings = OptimizerConfig(lr=LR, betas=BETAS)
        self.opt_G = make_optimizer(self.G.parameters(), settings)
        self.opt_D = make_optimizer([*self.D_shape.parameters(), *self.D_app.parameters()], settings)
        self.precision = precision
        for net in (self.G, self.D_shape, self.D_app):
            net.train()

    def autocast(self):
        """The task's ``ctx.autocast()``: bf16 autocast on the CPU, or nothing in fp32."""
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """phi after the ImageNet normalisation (the same function as the official side's)."""
        return self.phi(imagenet_normalise(images))

    def discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        net = self.D_app if name == "D_app" else self.D_shape
        fake = self.pools[name].query(fake.detach())
        with self.autocast():
            real_scores, fake_scores = net(real), net(fake)
        return LAMBDA_GAN * 0.5 * (gan_loss(real_scores, True)[0] + gan_loss(fake_scores, False)[0])

    def step(self, x: Inputs) -> None:
        """One G update, then one update of both discriminators (the task's ``train_step`` on a given batch)."""
        for net in (self.D_shape, self.D_app):
            net.requires_grad_(False)
        with self.autocast():
            fake = self.G(x.P1, x.BP1, x.BP2)
            shape_scores = self.D_shape(torch.cat([fake, x.BP2], 1))
            app_scores = self.D_app(torch.cat([fake, x.P1], 1))
        gan = gan_loss(shape_scores, True)[0] + gan_loss(app_scores, True)[0]
        with self.autocast():
            rec, _ = l1_plus_perceptual(fake, x.P2, self.features, LAMBDA_L1, LAMBDA_PERCEPTUAL)
        self.opt_G.zero_grad(set_to_none=True)
        (rec + LAMBDA_GAN * 0.5 * gan).backward()
        self.opt_G.step()
        for net in (self.D_shape, self.D_app):
            net.requires_grad_(True)
        fake = fake.detach().float()
        d_app = self.discriminator_loss("D_app", torch.cat([x.P2, x.P1], 1), torch.cat([fake, x.P1], 1))
        d_shape = self.discriminator_loss("D_shape", torch.cat([x.P2, x.BP2], 1), torch.cat([fake, x.BP2], 1))
        self.opt_D.zero_grad(set_to_none=True)
        (d_app + d_shape).backward()
        self.opt_D.step()


def check_parameter_counts(official: Official, ours: Ours) -> None:
    """Print both sides' parameter counts and stop if they differ."""
    pairs = [("G", official.G, ours.G), ("D_PB / D_shape", official.D_PB, ours.D_shape)]
    pairs.append(("D_PP / D_app", official.D_PP, ours.D_app))
    for name, a, b in pairs:
        print(f"parameters {name}: official {parameters(a):,}, ours {parameters(b):,}", flush=True)
        if parameters(a) != parameters(b):
            sys.exit(f"{name}: the architectures differ")


OPERATOR_KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("convolution (forward + backward)", ("conv", "mkldnn_convolution", "slow_conv")),
    ("batch norm", ("batch_norm",)),
    ("attention (bmm / softmax / sdpa)", ("bmm", "softmax", "scaled_dot_product", "_flash_attention", "matmul")),
    ("optimizer (Adam)", ("adam", "_foreach", "lerp", "addcdiv", "addcmul", "sqrt", "fused")),
    ("padding", ("reflection_pad", "pad")),
    ("dropout / relu / elementwise", ("dropout", "relu", "threshold", "mul", "add", "tanh", "sigmoid", "div", "sub")),
]


def profile(step: Callable[[], None], iterations: int, label: str, rows: int) -> None:
    """Run ``step`` ``iterations`` times under ``torch.profiler`` and print the top operators by self CPU time and
    the share of each kind of operator."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step()  # warm at this thread count
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            step()
    wall = (time.perf_counter() - start) / iterations
    events = prof.key_averages()
    print(f"\nprofile, {label}: {iterations} iteration(s), {wall:.2f} s/iteration under the profiler, one thread")
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48))
    total = sum(e.self_cpu_time_total for e in events)
    shares: dict[str, float] = {}
    for event in events:
        name = event.key.lower()
        kind = next((k for k, patterns in OPERATOR_KINDS if any(p in name for p in patterns)), "other")
        shares[kind] = shares.get(kind, 0.0) + event.self_cpu_time_total
    print(f"self CPU time by kind ({label}, {total / 1e6 / iterations:.2f} s per iteration):")
    for kind, us in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {kind}: {us / 1e6 / iterations:.2f} s ({100 * us / total:.1f}%)")


def main() -> None:
    """Build both sides, time them in alternating rounds, print the ratios, then profile ours."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", type=Path, required=True, help="a checkout of Ha0Tang/XingGAN")
    ap.add_argument("--threads", type=int, default=2)
    precision = ap.add_mutually_exclusive_group()
    precision.add_argument("--fp32", action="store_true", help="ours in fp32 only (default: fp32 and bf16)")
    precision.add_argument("--bf16", action="store_true", help="ours in bf16 only (default: fp32 and bf16)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=2, help="timed iterations per arm and round")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--compare-attention", action="store_true", help="add ours fp32 with the attention forced to sdpa")
    ap.add_argument("--profile-iterations", type=int, default=2, help="0: no profile")
    ap.add_argument("--profile-official", action="store_true", help="profile the official iteration too")
    ap.add_argument("--profile-rows", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    networks, image_pool = load_official(args.official)
    phi = vgg_relu1_2()
    arms: dict[str, Official | Ours] = {"official fp32": Official(networks, image_pool, phi)}
    if not args.bf16:
        arms["ours fp32"] = Ours(phi, "fp32")
    if not args.fp32:
        arms["ours bf16"] = Ours(phi, "bf16")
    if args.compare_attention:
        arms["ours fp32 sdpa"] = Ours(phi, "fp32", "sdpa")
    check_parameter_counts(arms["official fp32"], next(a for a in arms.values() if isinstance(a, Ours)))
    x = Inputs(args.batch, args.height, args.width)
    for name, arm in arms.items():  # warm-up
        t = time.perf_counter()
        arm.step(x)
        print(f"warm-up {name}: {time.perf_counter() - t:.2f} s", flush=True)
    times: dict[str, list[float]] = {k: [] for k in arms}
    for r in range(args.rounds):
        for name, arm in arms.items():
            t = time.perf_counter()
            for _ in range(args.iterations):
                arm.step(x)
            times[name].append((time.perf_counter() - t) / args.iterations)
            print(f"round {r + 1} {name}: {times[name][-1]:.2f} s/iteration", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    setting = f"{args.height}x{args.width}, batch {args.batch}, {args.threads} threads"
    print(f"\n{setting}, {args.rounds} rounds of {args.iterations} iterations per arm:")
    for name, value in med.items():
        print(f"  {name}: {value:.2f} s/iteration (rounds: {', '.join(f'{t:.2f}' for t in times[name])})")
    for name, value in med.items():
        if name != "official fp32":
            print(f"  {name} / official fp32: {value / med['official fp32']:.2f}")
    if args.profile_iterations > 0:
        torch.set_num_threads(1)
        mine = arms.get("ours fp32") or Ours(phi, "fp32")
        profile(lambda: mine.step(x), args.profile_iterations, "ours fp32", args.profile_rows)
        if args.profile_official:
            official = arms["official fp32"]
            profile(lambda: official.step(x), args.profile_iterations, "official fp32", args.profile_rows)


if __name__ == "__main__":
    main()
