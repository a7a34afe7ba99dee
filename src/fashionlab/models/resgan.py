"""ResGAN: Learning Residual Images for Face Attribute Manipulation (Shen & Liu, CVPR 2017):
``fashionlab train resgan``.

For one *contrast*, two values a and b of one attribute (``contrast=sleeve=long,short``; on CelebA
``contrast=Eyeglasses=yes,no``), two transformation networks each output a residual image r and the edit
is x + r: G0 turns a into b ("removes" a), G1 turns b into a ("adds" it). Only the training images whose
contrast attribute is a or b are used (by default drawn half and half, as the re-implementations feed
equal batches of each value). Networks: :mod:`fashionlab.models.editing.residual`.

One iteration (``train.steps`` counts them), on one batch:

- the discriminator D learns three classes by cross-entropy: real with a (0), real with b (1), and the
  transformed images of the batch, generated (2) (:mod:`fashionlab.losses.resgan`);
- every ``n_critic`` iterations (1: the re-implementations), G0 and G1 step together on the same batch:
  the transformed image classified as the real class of its target value, plus ``loss.dual`` x the dual
  image (the other network applied to the transformed one: G1(G0(x)), G0(G1(x))) classified as the real
  class of the *original* value, plus ``loss.residual`` x mean |r|, plus ``loss.perceptual`` x mean
  |phi(x*) - phi(x)| with phi D's features after block ``model.discriminator.feature_layer`` (identity).

Weights, converted exactly from the public re-implementation (MingtaoGuo: [0, 255] images and *sums*) to
our [-1, 1] images and *means* (:func:`fashionlab.losses.resgan.sum_weight_as_mean`):

- residual: alpha = 5e-5 on sum |r_255| over 3 H W elements, r_255 = 127.5 r, so the weight on mean |r|
  is 5e-5 x 127.5 x 3 H W: 313.344 at 128 px, 78.336 at 64 px, 19.584 at 32 px;
- perceptual: beta = 0.1 alpha = 5e-6 on the sum over D's C h w feature elements (instance-normalised:
  the pixel range does not scale them), so 5e-6 x C h w on the mean: 0.08192 for 256 x 8 x 8 (128 px, D 32
  wide, 5 layers, block 4); the "0.1 alpha" is *unconfirmed* against the paper;
- dual: 1 (the re-implementation adds the dual term unweighted).

Departures from the re-implementation, where it matters: G0 and G1 share one Adam on the sum of both
losses (it steps each on its own loss, so a dual term trains only the first network of its chain; here
both); D learns from one real and one generated batch per iteration, each a mean (it sums two of each);
instance norm per sample (its "instance norm" takes moments over the batch too); the generated images
go to D unclamped, as there.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from ..config import to_dict
from ..data.imaging import Preprocess, denormalise
from ..engine.export import save_export
from ..engine.task import OptimizerConfig, StepContext, Task
from ..engine.trainer import TrainConfig
from ..errors import InputError
from ..losses.resgan import REAL_A, REAL_B, discriminator_loss, generator_loss, residual_l1
from ..viz import image_grid, overlay
from .editing.residual import (
    Contrast,
    ResganModelConfig,
    ThreeClassDiscriminator,
    TransformNet,
    infer_resgan,
    load_resgan_editor,
    parse_contrast,
    residuals,
)
from .registry import register_model


@dataclass
class ResganLossWeights:
    """``loss.*``: weights on *means* over [-1, 1] images (the conversion: the module docstring)."""

    residual: float = 313.344  # on mean |r|: alpha 5e-5 on the [0, 255] sum, at 128 px (64 px: 78.336)
    perceptual: float = 0.08192  # on mean |phi(x*) - phi(x)|: 0.1 alpha on the sum over 256 x 8 x 8 features
    dual: float = 1.0  # the dual image classified as the original value


@dataclass
class ResganOptim:
    """``optim.G.*`` (G0 and G1 together) and ``optim.D.*``: Adam 2e-4 with TensorFlow's default betas
    (0.9, 0.999), constant, as the re-implementation trains."""

    G: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=2e-4, betas=(0.9, 0.999), lr_decay_start=1.0))
    D: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=2e-4, betas=(0.9, 0.999), lr_decay_start=1.0))


@dataclass
class ResganConfig:
    """Everything ``fashionlab train resgan`` needs."""

    data: str = ""  # dataset folder (fashionlab format) with attribute labels
    # the two values to swap, ATTRIBUTE=A,B (G0: A -> B, G1: B -> A); a two-valued attribute may be named
    # alone (CelebA: Eyeglasses means Eyeglasses=yes,no; its raw 1 / -1 are accepted for yes / no)
    contrast: str = ""
    image_size: int = 128  # training resolution (square)
    resize: str = "fit"  # fit, crop or stretch
    flip: bool = True  # random horizontal flips of the inputs
    balance: bool = True  # draw images with a and with b equally often (the smaller side repeats)
    n_critic: int = 1  # discriminator updates per generator update (the re-implementations: 1)
    sample_images: int = 6  # validation images in each sample grid
    model: ResganModelConfig = field(default_factory=ResganModelConfig)
    loss: ResganLossWeights = field(default_factory=ResganLossWeights)
    optim: ResganOptim = field(default_factory=ResganOptim)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=20000, batch_size=10, ema=0.0, log_every=50, sample_every=2000)
    )


class ContrastDataset(Dataset):
    """The items of ``base`` whose contrast attribute is a or b, each with ``real_class`` (0: a, 1: b).
    Balanced: item k is of value a for even k and b for odd k, the smaller side repeating, so every
    permutation the sampler draws holds as many of each (2 x the larger side in all)."""

    def __init__(self, base, contrast: Contrast, balance: bool):
        self.base = base
        column = base.labels[:, contrast.index]
        self.sides = [np.flatnonzero(column == contrast.a_index), np.flatnonzero(column == contrast.b_index)]
        self.balance = balance
        self.counts = [len(s) for s in self.sides]
        self.order = np.concatenate(self.sides)

    def __len__(self) -> int:
        return 2 * max(self.counts) if self.balance else len(self.order)

    def __getitem__(self, k: int) -> dict[str, Any]:
        if self.balance:
            side = k % 2
            row = self.sides[side][(k // 2) % self.counts[side]]
        else:
            row, side = self.order[k], int(k >= self.counts[0])
        return {**self.base[int(row)], "real_class": REAL_A if side == 0 else REAL_B}


def contrast_dataset(
    data: str, split: str, preprocess: Preprocess, contrast_text: str, balance: bool, min_images: int
) -> tuple[ContrastDataset, Contrast, list[tuple[str, list[str]]]]:
    """The ``split`` of ``data`` restricted to the contrast, the parsed contrast and the dataset's attributes;
    an InputError when either value has no image or both together fewer than ``min_images``."""
    from ..data.loader import FashionDataset

    base = FashionDataset(data, split=split, size=preprocess.size, resize=preprocess.resize)
    attributes = [(s.name, list(s.values)) for s in base.specs]
    contrast = parse_contrast(contrast_text, attributes)
    ds = ContrastDataset(base, contrast, balance)
    n_a, n_b = ds.counts
    if min(n_a, n_b) == 0 or n_a + n_b < min_images:
        raise InputError(
            f"the {split!r} split has {n_a} images with {contrast.attribute}={contrast.a} and {n_b} with "
            f"{contrast.attribute}={contrast.b} (the other {len(base) - n_a - n_b} are skipped); need at least one of "
            f"each and {min_images} in all",
            path=data,
            field="contrast",
        )
    return ds, contrast, attributes


class ResganTask(Task):
    """See the module docstring."""

    name = "resgan"

    def __init__(self, cfg: ResganConfig):
        super().__init__()
        if not cfg.data:
            raise InputError("no dataset given (--data DIR)", field="data")
        if cfg.n_critic < 1:
            raise InputError("must be at least 1", field="n_critic")
        self.cfg = cfg
        self.preprocess = Preprocess((cfg.image_size, cfg.image_size), cfg.resize)
        self.dataset, self.contrast, self.attributes = contrast_dataset(
            cfg.data, "train", self.preprocess, cfg.contrast, cfg.balance, cfg.train.batch_size
        )
        self.nets["G0"] = TransformNet(cfg.model.generator)
        self.nets["G1"] = TransformNet(cfg.model.generator)
        self.nets["D"] = ThreeClassDiscriminator(self.preprocess.size, cfg.model.discriminator)
        self._sample_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ engine contract
    def optimizer_settings(self):
        g = itertools.chain(self.nets["G0"].parameters(), self.nets["G1"].parameters())
        return {"G": (g, self.cfg.optim.G), "D": (self.nets["D"].parameters(), self.cfg.optim.D)}

    def train_dataset(self):
        return self.dataset

    def ema_nets(self) -> list[str]:
        return ["G0", "G1"]

    def ema_due(self, step: int) -> bool:
        return (step + 1) % self.cfg.n_critic == 0

    # ------------------------------------------------------------------ training
    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        batch = ctx.next_batch()
        x, real_class = batch["image"], batch["real_class"].to(ctx.device)
        if self.cfg.flip:
            flip = (torch.rand(x.shape[0]) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        to_b = real_class == REAL_A  # images with a go through G0 (to b), the others through G1 (to a)
        with torch.no_grad(), ctx.autocast():
            fake = x + residuals(self.nets["G0"], self.nets["G1"], x, to_b)
        self.nets["D"].requires_grad_(True)
        with ctx.autocast():
            logits, _ = self.ddp["D"](torch.cat([x, fake]))  # instance norm: per sample, as two calls
            d_loss, scalars = discriminator_loss(logits[: len(x)], real_class, logits[len(x) :])
        self.optimizers["D"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["D"].step()
        scalars["d_loss"] = d_loss.detach()
        if (ctx.step + 1) % self.cfg.n_critic == 0:
            scalars.update(self._generator_step(ctx, x, real_class, to_b))
        return scalars

    def _generator_step(self, ctx: StepContext, x, real_class, to_b) -> dict[str, torch.Tensor]:
        w, b = self.cfg.loss, len(x)
        self.nets["D"].requires_grad_(False)  # D only judges here
        G0, G1 = self.ddp["G0"], self.ddp["G1"]
        with ctx.autocast():
            r = residuals(G0, G1, x, to_b)
            fake = x + r
            dual = fake + residuals(G0, G1, fake, ~to_b)  # the other network takes it back
            logits, features = self.nets["D"](torch.cat([fake, dual, x]))
            adv, scalars = generator_loss(logits[:b], 1 - real_class, "g_adv")  # the other value's real class
            l_dual, s = generator_loss(logits[b : 2 * b], real_class, "dual")  # the original value's
            scalars.update(s)
            l_res, s = residual_l1(r)
            scalars.update(s)
            l_per = (features[:b].float() - features[2 * b :].float()).abs().mean()
            g_loss = adv + w.dual * l_dual + w.residual * l_res + w.perceptual * l_per
        scalars.update(perceptual=l_per.detach(), g_loss=g_loss.detach())
        self.optimizers["G"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["G"].step()
        return scalars

    # ------------------------------------------------------------------ samples and export
    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger, nets: dict[str, nn.Module]) -> None:
        """A grid: rows are validation images with value a or b; columns the input, the edit x + r, |r| over
        the input (summed over RGB, scaled to its maximum) and the dual image (edited back)."""
        G0, G1 = nets["G0"], nets["G1"]
        dev = next(G0.parameters()).device
        if self._sample_batch is None:
            ds = self.dataset  # unless there are validation images of either value
            with contextlib.suppress(InputError):
                ds = contrast_dataset(self.cfg.data, "val", self.preprocess, self.cfg.contrast, False, 1)[0]
            rows = np.linspace(0, len(ds) - 1, min(self.cfg.sample_images, len(ds))).round().astype(int)
            items = [ds[int(i)] for i in rows]
            self._sample_batch = (
                torch.stack([it["image"] for it in items]),
                torch.tensor([it["real_class"] for it in items]),
            )
        x, real_class = (t.to(dev) for t in self._sample_batch)
        to_b = real_class == REAL_A
        r = residuals(G0, G1, x, to_b)
        dual = x + r + residuals(G0, G1, x + r, ~to_b)
        heat = r.abs().sum(1)
        heat = (heat / heat.flatten(1).max(1).values.clamp_min(1e-6)[:, None, None]).cpu().numpy()
        inputs, edits, duals = denormalise(x), denormalise(x + r), denormalise(dual)
        grid = image_grid([[inputs[i], edits[i], overlay(inputs[i], heat[i]), duals[i]] for i in range(len(x))])
        out_dir = run_dir / "samples"
        out_dir.mkdir(exist_ok=True)
        Image.fromarray(grid).save(out_dir / f"edits-step-{step:07d}.png")
        logger.image("edits", step, grid)

    def export(self, out_dir: Path, nets: dict[str, nn.Module]) -> Path:
        c = self.contrast
        return save_export(
            out_dir,
            kind=self.name,
            nets={"G0": nets["G0"], "G1": nets["G1"]},
            config=to_dict(self.cfg.model),
            preprocess=self.preprocess,
            extra={"attributes": [[n, v] for n, v in self.attributes], "contrast": [c.attribute, c.a, c.b]},
        )


register_model(
    "resgan",
    config=ResganConfig,
    task=ResganTask,
    load=load_resgan_editor,
    infer=infer_resgan,
    help="ResGAN two-value editor: residual images x + r, a three-class critic, dual learning (CVPR 2017)",
)
