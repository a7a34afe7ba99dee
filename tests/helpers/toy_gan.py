"""A toy two-discriminator GAN task: the shape of every generative model fashionlab trains, in tiny nets.

An editor G(x, code) -> x' (code: one random target value per sample, tiled), a critic D_image on the
whole image and a critic D_crop on the centre crop at half size, both WGAN-GP with the penalty in fp32,
``n_critic`` D updates per G update with a fresh batch for each, an image pool of past fakes (task
state), a G step counter (task state), an EMA of G (samples and export), and a frozen attribute network
(loaded from an export, BatchNorm inside) whose conv5 features give G a perceptual loss.

Run under torchrun it is the engine's distributed test::

    torchrun --standalone --nproc_per_node 2 tests/helpers/toy_gan.py DATA FROZEN OUT [key=value ...]

Each rank writes ``OUT/rank-R.pt`` (its first random codes, final weights, task state).
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from fashionlab.config import resolve_config, to_dict
from fashionlab.data.imaging import Preprocess, denormalise
from fashionlab.engine.export import save_export
from fashionlab.engine.task import OptimizerConfig, StepContext, Task
from fashionlab.engine.trainer import TrainConfig, Trainer, seed_everything
from fashionlab.losses.gan import gradient_penalty, l1_loss, wgan_critic_loss, wgan_generator_loss
from fashionlab.models.registry import load
from fashionlab.viz import image_grid


@dataclass
class ToyGanOptim:
    G: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=2e-3, betas=(0.5, 0.999)))
    D: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3, betas=(0.0, 0.99)))


@dataclass
class ToyGanConfig:
    data: str = ""
    frozen: str = ""  # an attrnet export: the frozen network
    image_size: int = 32
    n_codes: int = 3
    n_critic: int = 2
    lambda_gp: float = 10.0
    lambda_perceptual: float = 1.0
    gp_precision: str = "fp32"  # the penalty's phase runs in this precision
    pool_size: int = 6
    interrupt_rank: int = -1  # tests: this rank alone gets SIGINT after step `interrupt_step`
    interrupt_step: int = -1
    optim: ToyGanOptim = field(default_factory=ToyGanOptim)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=6, batch_size=4, precision="fp32", ema=0.8, ema_warmup=2, log_every=2, sample_every=3, ckpt_every=0
        )
    )


def conv(cin: int, cout: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class ToyG(nn.Module):
    def __init__(self, n_codes: int):
        super().__init__()
        self.n_codes = n_codes
        self.body = nn.Sequential(conv(3 + n_codes, 8), conv(8, 8), nn.Conv2d(8, 3, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(code, self.n_codes).to(x.dtype)[:, :, None, None]
        return self.body(torch.cat([x, onehot.expand(-1, -1, *x.shape[-2:])], 1))


class ToyD(nn.Module):
    def __init__(self, layers: int):
        super().__init__()
        chans = [3] + [8 * 2**i for i in range(layers)]
        self.body = nn.Sequential(*[conv(a, b, 2) for a, b in zip(chans, chans[1:], strict=False)])
        self.head = nn.Conv2d(chans[-1], 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten(1).mean(1)


def centre_crop(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    return x[..., h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2]


def critic_loss(D_image, D_crop, real, fake, lambda_gp, gp_autocast, alpha=None):
    """The two critics' WGAN-GP loss on one batch (what the DDP gradient test compares)."""
    total, scalars = 0.0, {}
    for name, D, crop in (("image", D_image, False), ("crop", D_crop, True)):
        r, f = (centre_crop(real), centre_crop(fake)) if crop else (real, fake)
        adv, s_adv = wgan_critic_loss(D(r), D(f.detach()))
        with gp_autocast:
            gp, s_gp = gradient_penalty(D, r, f, alpha)
        total = total + adv + lambda_gp * gp
        scalars.update({f"{name}/{k}": v for k, v in {**s_adv, **s_gp}.items()})
    return total, scalars


class ToyGanTask(Task):
    name = "toygan"

    def __init__(self, cfg: ToyGanConfig):
        super().__init__()
        from fashionlab.data.loader import FashionDataset

        self.cfg = cfg
        self.preprocess = Preprocess((cfg.image_size, cfg.image_size))
        self.dataset = FashionDataset(cfg.data, split="train", size=self.preprocess.size, progress=False)
        self.nets["G"] = ToyG(cfg.n_codes)
        self.nets["D_image"] = ToyD(3)
        self.nets["D_crop"] = ToyD(2)  # half-size input, one layer fewer
        self.add_frozen("classifier", load(cfg.frozen), source=cfg.frozen)
        self.pool = torch.zeros(0, 3, cfg.image_size, cfg.image_size)
        self.g_steps = 0
        self.first_codes: torch.Tensor | None = None

    def optimizer_settings(self):
        d_params = [*self.nets["D_image"].parameters(), *self.nets["D_crop"].parameters()]
        return {"G": (self.nets["G"].parameters(), self.cfg.optim.G), "D": (d_params, self.cfg.optim.D)}

    def train_dataset(self):
        return self.dataset

    def ema_nets(self):
        return ["G"]

    def _codes(self, n: int) -> torch.Tensor:
        codes = torch.randint(0, self.cfg.n_codes, (n,))
        if self.first_codes is None:
            self.first_codes = codes.clone()
        return codes

    def _pool_mix(self, fake: torch.Tensor) -> torch.Tensor:
        """Half of the fakes D sees come from the pool of past fakes (the pool keeps the newest)."""
        out = fake
        if len(self.pool):
            take = torch.randperm(len(self.pool))[: len(fake) // 2]
            out = torch.cat([fake[: len(fake) - len(take)], self.pool[take].to(fake.device)])
        self.pool = torch.cat([self.pool, fake.detach().cpu()])[-self.cfg.pool_size :]
        return out

    def train_step(self, ctx: StepContext):
        cfg = self.cfg
        G, D_image, D_crop = self.nets["G"], self.ddp["D_image"], self.ddp["D_crop"]
        # --- critic update, every step
        x = ctx.next_batch()["image"]
        with torch.no_grad(), ctx.autocast():
            fake = G(x, self._codes(len(x)).to(x.device)).float()
        fake = self._pool_mix(fake)
        for name in ("D_image", "D_crop"):
            self.nets[name].requires_grad_(True)
        with ctx.autocast():
            d_loss, scalars = critic_loss(D_image, D_crop, x, fake, cfg.lambda_gp, ctx.autocast(cfg.gp_precision))
        self.optimizers["D"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["D"].step()
        scalars["d_loss"] = d_loss.detach()
        scalars["rank"] = torch.tensor(float(ctx.dist.rank))
        # --- generator update, every n_critic steps, on a fresh batch; the critics are not trained here
        if (ctx.step + 1) % cfg.n_critic == 0:
            for name in ("D_image", "D_crop"):
                self.nets[name].requires_grad_(False)
            x = ctx.next_batch()["image"]
            with ctx.autocast():
                out = self.ddp["G"](x, self._codes(len(x)).to(x.device))
                adv_i, s_i = wgan_generator_loss(self.nets["D_image"](out))
                adv_c, _ = wgan_generator_loss(self.nets["D_crop"](centre_crop(out)))
                clf = self.frozen["classifier"]
                size = clf.preprocess.size
                up = lambda t: nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)  # noqa: E731
                perc, s_p = l1_loss(clf.features(up(out)), clf.features(up(x)), "perceptual")
                g_loss = adv_i + adv_c + cfg.lambda_perceptual * perc
            self.optimizers["G"].zero_grad(set_to_none=True)
            g_loss.backward()
            self.optimizers["G"].step()
            self.g_steps += 1
            scalars.update(g_loss=g_loss.detach(), **s_p)
        if ctx.step == cfg.interrupt_step and ctx.dist.rank == cfg.interrupt_rank:
            os.kill(os.getpid(), signal.SIGINT)
        return scalars

    def state_dict(self):
        return {"pool": self.pool.clone(), "g_steps": self.g_steps}

    def load_state_dict(self, state):
        self.pool, self.g_steps = state["pool"].clone(), int(state["g_steps"])

    @torch.no_grad()
    def sample(self, step, run_dir, logger, nets):
        x = torch.stack([self.dataset[i]["image"] for i in range(3)])
        rows = [list(denormalise(x))]
        for c in range(self.cfg.n_codes):
            rows.append(list(denormalise(nets["G"](x, torch.full((3,), c)))))
        (run_dir / "samples").mkdir(exist_ok=True)
        Image.fromarray(image_grid(rows)).save(run_dir / "samples" / f"step-{step:07d}.png")
        self.sampled_with = nets["G"]

    def export(self, out_dir, nets):
        return save_export(
            out_dir, kind="toygan", nets={"G": nets["G"]}, config=to_dict(self.cfg), preprocess=self.preprocess
        )


def main(data: str, frozen: str, out: str, *overrides: str) -> None:
    cfg = resolve_config(
        ToyGanConfig, model="toygan", overrides=[f"data={data}", f"frozen={frozen}", f"train.out={out}", *overrides]
    )
    resume = os.environ.get("TOYGAN_RESUME")
    seed_everything(cfg.train.seed)
    from fashionlab.engine import distributed

    info = distributed.setup(cfg.train.device)
    with distributed.main_process_first(info):
        task = ToyGanTask(cfg)
    trainer = Trainer(task, cfg, train=cfg.train, resume=resume, progress=False)
    rank = trainer.dist.rank
    try:
        trainer.fit()
        code = 0
    except SystemExit as e:
        code = int(e.code)
    torch.save(
        {
            "first_codes": task.first_codes,
            "nets": {k: {n: t.clone() for n, t in v.state_dict().items()} for k, v in task.nets.items()},
            "ema": {k: e.state_dict() for k, e in trainer.ema.items()},
            "task": task.state_dict(),
            "step": trainer.step,
            "run_dir": str(trainer.run_dir) if trainer.run_dir else None,
            "np_draw": float(np.random.rand()),
        },
        Path(out) / f"rank-{rank}.pt",
    )
    sys.exit(code)


if __name__ == "__main__":
    main(*sys.argv[1:])
