"""The training task shared by the re-posing GANs (``fashionlab train xinggan|patn``), as the official
XingGAN / Pose-Transfer code trains them.

Each step draws a batch of pose pairs (source image P1, target image P2, their keypoints), makes the pose
heatmaps BP1, BP2 on the fly (:func:`fashionlab.data.keypoints.heatmaps_torch`), then, in the official order:

1. **G**: ``fake = G(P1, BP1, BP2)``; ``loss.gan * (GAN(D_shape(fake, BP2)) + GAN(D_app(fake, P1))) / 2 +
   loss.l1 * |fake - P2| + loss.perceptual * |phi(fake) - phi(P2)|`` (:mod:`fashionlab.losses.reposing`);
2. **D_app** on (image, P1) and 3. **D_shape** on (image, BP2): ``loss.gan * 0.5 * (GAN(real) +
   GAN(fake))`` with the fakes drawn through an image pool of ``pool_size`` (the official ``ImagePool``:
   while filling, every fake goes in and is used; then each fake is used directly or, with probability
   0.5, swapped for a stored one).

``loss.feature_matching`` (default 0: off) adds pix2pixHD's discriminator feature matching to G's loss: the
L1 distance between both discriminators' intermediate features of the fake and of the real target
(:func:`fashionlab.losses.reposing.feature_matching_loss`), a perceptual term that needs no downloaded network.
Deformable GAN (:mod:`fashionlab.models.deform`) reuses this task with its own discriminator and step.

``phi``, the perceptual features: the official code uses an ImageNet VGG19 up to relu1_2, which cannot be
had here. We use the first layer (11x11 stride-2 conv, batch norm, ReLU: 32 channels at half resolution)
of a frozen attribute network trained here on SynthFashion (``perceptual_network``, default the shipped
``asset:attrnet-synth64``); ``loss.perceptual=0`` is the L1-only ablation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...config import to_dict
from ...data.imaging import Preprocess, denormalise
from ...data.keypoints import heatmaps_torch
from ...data.pairs import PosePairDataset
from ...engine.export import export_tensor_hash, save_export
from ...engine.logger import RunLogger
from ...engine.task import OptimizerConfig, StepContext, Task
from ...engine.trainer import TrainConfig
from ...errors import InputError
from ...losses.reposing import GAN_MODES, feature_matching_loss, gan_loss, l1_plus_perceptual
from ...viz import image_grid
from .networks import PoseDiscriminator, PoseDiscriminatorConfig, run_generator


@dataclass
class ReposeLossWeights:
    """``loss.*`` (defaults: XingGAN's official Market run, ``--lambda_A 50 --lambda_B 50 --lambda_GAN 5``)."""

    l1: float = 50.0  # lambda_A
    perceptual: float = 50.0  # lambda_B (0: the L1-only ablation)
    gan: float = 5.0  # lambda_GAN, on G's mean of the two GAN terms and on each D's loss (with 0.5)
    gan_mode: str = "bce"  # bce (Market, --no_lsgan) or lsgan (DeepFashion)
    feature_matching: float = 0.0  # pix2pixHD's discriminator feature matching on G (pix2pixHD: 10; 0: off)


@dataclass
class ReposeOptimizers:
    """``optim.G`` and ``optim.D`` (official: Adam 2e-4 (0.5, 0.999), constant for 500 epochs then linear
    decay to 0 over 200: ``lr_decay_start`` 5/7)."""

    G: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(lr=2e-4, betas=(0.5, 0.999), lr_decay_start=5 / 7)
    )
    D: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(lr=2e-4, betas=(0.5, 0.999), lr_decay_start=5 / 7)
    )


@dataclass
class ReposeConfig:
    """What ``fashionlab train xinggan|patn`` shares (the generator's ``model.generator`` is per model)."""

    data: str = ""  # dataset folder with pose pairs (pairs-train.csv)
    image_size: tuple[int, int] = (128, 64)  # (height, width), multiples of 4 (Market 128x64, DeepFashion 256x176)
    resize: str = "fit"  # how other sizes are fitted: fit, crop or stretch
    sigma: float = 6.0  # the pose heatmaps' Gaussian sigma in pixels (official: 6)
    pool_size: int = 50  # image pool of fakes per discriminator (Market 50, DeepFashion 0: off)
    perceptual_network: str = "asset:attrnet-synth64"  # frozen attrnet export whose first layer is phi
    keypoint_model: str = "asset:keypoints-synth128x64"  # recorded in the export: finds source poses at inference
    val_pairs: int = 64  # validation pairs scored (L1, SSIM to the target) at every sample step
    sample_pairs: int = 6  # validation pairs drawn in each sample sheet
    discriminator: PoseDiscriminatorConfig = field(default_factory=lambda: PoseDiscriminatorConfig(sigmoid=False))
    loss: ReposeLossWeights = field(default_factory=ReposeLossWeights)
    optim: ReposeOptimizers = field(default_factory=ReposeOptimizers)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=87500, batch_size=32))


class ImagePool:
    """The official ``ImagePool`` (CycleGAN's): a buffer of up to ``size`` past fakes. ``query(batch)``
    returns a batch of the same size: while the buffer fills each fake goes in and is returned; once full,
    each fake is returned (p = 0.5) or replaces a random stored one, which is returned instead. Randomness
    from the global torch RNG; the buffer is part of the task state (exact resume)."""

    def __init__(self, size: int):
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return batch
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand(())) > 0.5:
                k = int(torch.randint(0, self.size, ()))
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"images": torch.stack(self.images).cpu() if self.images else torch.empty(0)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        images = state.get("images")
        self.images = [] if images is None or images.numel() == 0 else [t.to(device) for t in images]


class PerceptualFeatures(nn.Module):
    """``phi``: the first layer (conv, batch norm, ReLU) of a frozen attribute network's backbone,
    applied to images in [-1, 1] at their own size."""

    def __init__(self, attrnet: nn.Module):
        super().__init__()
        self.layer = attrnet.backbone.features[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layer(images)


class ReposeTask(Task):
    """XingGAN / PATN training (see the module docstring); subclasses set ``name`` and ``generator_type`` (the
    generator class, built from ``cfg.generator``)."""

    name = "repose"
    generator_type: type[nn.Module]

    def __init__(self, cfg: Any):
        super().__init__()
        from ..registry import load, model_path

        if not cfg.data:
            raise InputError("no dataset given (--data DIR)", field="data")
        h, w = (int(s) for s in cfg.image_size)
        if h % 4 or w % 4:
            raise InputError(f"image_size {h}x{w}: both sides must be multiples of 4", field="image_size")
        if cfg.loss.gan_mode not in GAN_MODES:
            raise InputError(f"expected one of {GAN_MODES}, got {cfg.loss.gan_mode!r}", field="loss.gan_mode")
        if getattr(cfg.discriminator, "sigmoid", False):
            raise InputError(
                "discriminator.sigmoid must be false in training: the BCE loss takes logits", field="discriminator"
            )
        self.cfg = cfg
        self.preprocess = Preprocess((h, w), cfg.resize)
        self.dataset = PosePairDataset(cfg.data, split="train", size=(h, w), resize=cfg.resize)
        self.nets["G"] = self.generator_type(cfg.generator)
        discriminators = self.build_discriminators(self.nets["G"].cfg.pose_channels)
        self.nets.update(discriminators)
        self.discriminator_names = list(discriminators)
        self.features: PerceptualFeatures | None = None
        if self.perceptual_loss_names():
            if not cfg.perceptual_network:
                raise InputError(
                    f"{' and '.join(self.perceptual_loss_names())} needs perceptual_network (an attrnet export)",
                    field="loss",
                )
            attrnet = load(cfg.perceptual_network)
            if not hasattr(attrnet, "backbone") or not hasattr(attrnet.backbone, "features"):
                raise InputError(
                    "perceptual_network must be an attrnet export (alexnet backbone)", field="perceptual_network"
                )
            self.features = self.add_frozen(
                "perceptual", PerceptualFeatures(attrnet), source=model_path(cfg.perceptual_network)
            )
        self.pools = {name: ImagePool(cfg.pool_size) for name in self.discriminator_names}
        self._val: dict[str, torch.Tensor] | None = None

    def build_discriminators(self, pose_channels: int) -> dict[str, nn.Module]:
        """The discriminators by name (XingGAN / PATN: D_shape on (image, target pose), D_app on (image, source
        image)); all are trained by the ``D`` optimizer and each has an image pool."""
        return {
            "D_shape": PoseDiscriminator(3 + pose_channels, self.cfg.discriminator),
            "D_app": PoseDiscriminator(3 + 3, self.cfg.discriminator),
        }

    def perceptual_loss_names(self) -> list[str]:
        """The configured losses that need the perceptual features ``phi`` (loaded only then)."""
        return ["loss.perceptual > 0"] if self.cfg.loss.perceptual else []

    # ------------------------------------------------------------------ engine contract
    def optimizer_settings(self):
        return {
            "G": (self.nets["G"].parameters(), self.cfg.optim.G),
            "D": ([p for k in self.discriminator_names for p in self.nets[k].parameters()], self.cfg.optim.D),
        }

    def train_dataset(self):
        return self.dataset

    def ema_nets(self) -> list[str]:
        return ["G"]

    def state_dict(self) -> dict[str, Any]:
        return {f"pool_{k}": p.state_dict() for k, p in self.pools.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(self.nets["G"].parameters()).device
        for k, p in self.pools.items():
            if f"pool_{k}" in state:
                p.load_state_dict(state[f"pool_{k}"], device)

    # ------------------------------------------------------------------ pieces
    def heatmaps(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(B, 18, 2) keypoints -> (B, 18, H, W) pose heatmaps at the training size."""
        h, w = self.preprocess.size
        return heatmaps_torch(keypoints, h, w, self.cfg.sigma)

    def _discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor, ctx: StepContext):
        net, mode = self.ddp[name], self.cfg.loss.gan_mode
        fake = self.pools[name].query(fake.detach())
        with ctx.autocast():
            real_scores, fake_scores = net(real), net(fake)
        l_real, _ = gan_loss(real_scores, True, mode)
        l_fake, _ = gan_loss(fake_scores, False, mode)
        loss = 0.5 * (l_real + l_fake)
        return self.cfg.loss.gan * loss, {f"{name}_real": l_real.detach(), f"{name}_fake": l_fake.detach()}

    def update(self, optimizer: str, loss: torch.Tensor) -> None:
        """One step of ``optimizer`` on the gradients of ``loss``."""
        opt = self.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def feature_matching(
        self, fake_features: list[list[torch.Tensor]], real_inputs: dict[str, torch.Tensor], ctx: StepContext
    ) -> tuple[torch.Tensor, dict]:
        """``loss.feature_matching`` x pix2pixHD's feature matching between the discriminators' intermediate features
        of the fakes (``fake_features``, one list per discriminator) and of ``real_inputs`` (discriminator name ->
        its real input, in the same order), the latter computed here without gradients."""
        with torch.no_grad(), ctx.autocast():
            real_features = [self.ddp[name](x, features=True)[1] for name, x in real_inputs.items()]
        loss, scalars = feature_matching_loss(fake_features, real_features)
        return self.cfg.loss.feature_matching * loss, scalars

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One G update, then one update of both discriminators (the official order and ratio)."""
        batch = ctx.next_batch()
        source, target = batch["source_image"], batch["target_image"]
        source_pose, target_pose = self.heatmaps(batch["source_keypoints"]), self.heatmaps(batch["target_keypoints"])
        G, w, mode = self.ddp["G"], self.cfg.loss, self.cfg.loss.gan_mode
        d_nets = [self.nets["D_shape"], self.nets["D_app"]]

        # --- G
        for net in d_nets:
            net.requires_grad_(False)
        matching = bool(w.feature_matching)
        with ctx.autocast():
            fake = run_generator(
                G, source, source_pose, target_pose, batch["source_keypoints"], batch["target_keypoints"]
            )
            shape_out = self.ddp["D_shape"](torch.cat([fake, target_pose], 1), features=matching)
            app_out = self.ddp["D_app"](torch.cat([fake, source], 1), features=matching)
        shape_scores, app_scores = (shape_out[0], app_out[0]) if matching else (shape_out, app_out)
        g_shape, _ = gan_loss(shape_scores, True, mode)
        g_app, _ = gan_loss(app_scores, True, mode)
        with ctx.autocast():
            rec, scalars = l1_plus_perceptual(fake, target, self.features, w.l1, w.perceptual)
        g_loss = rec + w.gan * 0.5 * (g_shape + g_app)
        if matching:
            real_inputs = {"D_shape": torch.cat([target, target_pose], 1), "D_app": torch.cat([target, source], 1)}
            fm, fm_scalars = self.feature_matching([shape_out[1], app_out[1]], real_inputs, ctx)
            g_loss = g_loss + fm
            scalars.update(fm_scalars)
        self.update("G", g_loss)
        for net in d_nets:
            net.requires_grad_(True)

        # --- D_app (image, source image), then D_shape (image, target pose)
        fake = fake.detach().float()
        d_app, s_app = self._discriminator_loss(
            "D_app", torch.cat([target, source], 1), torch.cat([fake, source], 1), ctx
        )
        d_shape, s_shape = self._discriminator_loss(
            "D_shape", torch.cat([target, target_pose], 1), torch.cat([fake, target_pose], 1), ctx
        )
        self.update("D", d_app + d_shape)
        return {
            **scalars,
            "g_gan_shape": g_shape.detach(),
            "g_gan_app": g_app.detach(),
            "g_total": g_loss.detach(),
            **s_app,
            **s_shape,
        }

    # ------------------------------------------------------------------ samples and export
    def _validation(self) -> dict[str, torch.Tensor] | None:
        if self._val is None:
            try:
                val = PosePairDataset(self.cfg.data, split="val", size=self.preprocess.size, resize=self.cfg.resize)
            except InputError:
                return None
            n = min(len(val), max(self.cfg.val_pairs, self.cfg.sample_pairs))
            if n == 0:
                return None
            order = np.random.default_rng(0).permutation(len(val))[:n]
            items = [val[int(i)] for i in order]
            self._val = {
                k: torch.stack([it[k] for it in items])
                for k in ("source_image", "target_image", "source_keypoints", "target_keypoints")
            }
        return self._val

    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger: RunLogger, nets: dict[str, nn.Module]) -> None:
        """L1 and PSNR to the target on ``val_pairs`` validation pairs (the papers' metrics are in
        ``fashionlab eval pose``), and a sheet of ``sample_pairs`` rows: source | source pose | target pose |
        output | target."""
        from ..keypoints import draw_skeleton

        val = self._validation()
        if val is None:
            return
        G = nets["G"]
        was_training = G.training
        G.eval()
        dev = next(G.parameters()).device
        outs = []
        for i in range(0, len(val["source_image"]), 16):
            part = {k: v[i : i + 16].to(dev) for k, v in val.items()}
            source_pose, target_pose = self.heatmaps(part["source_keypoints"]), self.heatmaps(part["target_keypoints"])
            outs.append(
                run_generator(
                    G,
                    part["source_image"],
                    source_pose,
                    target_pose,
                    part["source_keypoints"],
                    part["target_keypoints"],
                )
                .float()
                .cpu()
            )
        G.train(was_training)
        out = denormalise(torch.cat(outs))
        target = denormalise(val["target_image"])
        n_score = min(len(out), self.cfg.val_pairs)
        error = out[:n_score].astype(np.float32) / 255.0 - target[:n_score].astype(np.float32) / 255.0
        mse = np.maximum((error**2).reshape(n_score, -1).mean(1), 1e-10)
        logger.log(step, {"val/l1": float(np.abs(error).mean()), "val/psnr": float(np.mean(-10 * np.log10(mse)))})
        n_show = min(len(out), self.cfg.sample_pairs)
        source = denormalise(val["source_image"][:n_show])
        blank = np.zeros_like(source[0])
        rows = [
            [
                source[i],
                draw_skeleton(blank, val["source_keypoints"][i].numpy()),
                draw_skeleton(blank, val["target_keypoints"][i].numpy()),
                out[i],
                target[i],
            ]
            for i in range(n_show)
        ]
        sheet = image_grid(rows)
        folder = run_dir / "samples"
        folder.mkdir(exist_ok=True)
        Image.fromarray(sheet).save(folder / f"repose-step-{step:07d}.png")
        logger.image("repose", step, sheet)

    def export(self, out_dir: Path, nets: dict[str, nn.Module]) -> Path:
        """The generator, its architecture, input contract, heatmap sigma and the keypoint model to use (named
        by its path or ``asset:NAME`` and identified by its tensor hash, checked when it is loaded)."""
        keypoint_model = self.cfg.keypoint_model
        if keypoint_model and not keypoint_model.startswith("asset:"):
            keypoint_model = str(Path(keypoint_model).resolve())
        from ..registry import model_path

        try:
            keypoint_hash = export_tensor_hash(model_path(keypoint_model)) if keypoint_model else None
        except InputError:  # not there (yet): named only
            keypoint_hash = None
        return save_export(
            out_dir,
            kind=self.name,
            nets={"G": nets["G"]},
            config=to_dict(self.cfg.generator),
            preprocess=self.preprocess,
            extra={
                "sigma": self.cfg.sigma,
                "keypoint_model": keypoint_model,
                "keypoint_model_tensor_sha256": keypoint_hash,
                "keypoint_order": "openpose-18",
                "perceptual_network": self.cfg.perceptual_network if self.cfg.loss.perceptual else None,
            },
        )
