"""The keypoint estimator of the re-posing work (``fashionlab train keypoints``): 18 OpenPose keypoints
from one image by heatmap regression, in the manner of Simple Baselines (Xiao et al., ECCV 2018).

- **Network** (:class:`KeypointNet`): a small residual encoder (a stride-2 conv + BN + ReLU and
  ``model.blocks`` residual blocks per stage, down to 1/2^len(widths) of the input), then transposed
  convs (4x4, stride 2) back to **1/4** of the input, each adding a 1x1 projection of the encoder's
  features at that resolution (``model.skips``; Simple Baselines has none, a small network localises
  better with them), and a 1x1 conv to 18 heatmaps.
- **Targets** (:func:`keypoint_targets`): the Gaussian heatmaps of :func:`fashionlab.data.keypoints.heatmaps_torch`
  on the stride-4 grid, ``sigma`` in heatmap pixels (Simple Baselines: 2 at 64x48), pixel centres aligned
  (input pixel ``x`` is heatmap position ``(x + 0.5) / 4 - 0.5``).
- **Loss** (:func:`keypoint_loss`): mean squared error per channel; a missing point's channel has an
  all-zero target and is supervised like the others (``loss.missing_weight`` = 1): SynthFashion marks a
  point missing exactly when it is outside the image or hidden, and :meth:`KeypointNet.predict` reports
  a point missing when its heatmap stays low, so the network must learn to keep those channels low.
  (For a dataset whose missing points are only unannotated, set ``loss.missing_weight=0`` to mask them.)
- **Decoding** (:func:`decode_heatmaps`): the arg-max of each heatmap, moved a quarter of a heatmap pixel
  toward the higher neighbour on each axis (Simple Baselines' sub-pixel trick), mapped back to input
  pixels; a point whose peak is below ``model.threshold`` is reported missing (-1).
- **Augmentation**: horizontal flips that swap the left and right keypoints (:data:`FLIP_PERMUTATION`),
  random zoom and shift (:func:`zoom_shift`); points leaving the frame become missing.

Keypoints everywhere are ``(..., 18, 2)`` ``[x, y]`` pixel positions (pixel ``i`` has its centre at ``i``)
in the order of :data:`fashionlab.data.format.KEYPOINT_NAMES`, with ``[-1, -1]`` for a missing point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from ..config import from_dict, to_dict
from ..data.geometry import Placement
from ..data.imaging import Preprocess, denormalise
from ..data.keypoints import MISSING, NUM_KEYPOINTS, heatmaps_torch
from ..engine.export import save_export
from ..engine.logger import RunLogger
from ..engine.task import OptimizerConfig, StepContext, Task
from ..engine.trainer import TrainConfig
from ..errors import InputError
from ..viz import image_grid
from .keypoint_geometry import (  # noqa: F401 - the geometry is part of this model's public interface
    FLIP_PERMUTATION,
    HEATMAP_STRIDE,
    _as_float_tensor,
    flip_batch,
    flip_keypoints,
    heatmap_to_input,
    input_to_heatmap,
    keypoint_missing,
    mark_outside_missing,
    resize_keypoints,
    unresize_keypoints,
    zoom_shift,
)
from .registry import register_model

#: The limbs drawn in sample sheets (OpenPose's 17 connections).
SKELETON = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip

#: One colour per keypoint (OpenPose's palette), also used for the limb that ends at it.
KEYPOINT_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip


# ----------------------------------------------------------------------------------------------- config
@dataclass
class KeypointNetModelConfig:
    """``model.*``: the network's architecture and its decoding threshold."""

    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # encoder channels at strides 2, 4, 8 ...
    blocks: int = 1  # residual blocks (two 3x3 convs each) after each stage's stride-2 conv
    decoder_width: int = 128  # channels of the transposed-conv decoder (back to stride 4)
    skips: bool = True  # add 1x1 projections of the encoder's features to the decoder's at each resolution
    threshold: float = 0.3  # predict(): a point whose heatmap peak is below this is reported missing (-1)


@dataclass
class KeypointLossConfig:
    """``loss.*``"""

    sigma: float = 2.0  # the target Gaussians' sigma in heatmap pixels (stride 4; Simple Baselines: 2 at 64x48)
    missing_weight: float = 1.0  # weight of a missing point's all-zero channel (0: masked, 1: supervised as zeros)


@dataclass
class KeypointNetConfig:
    """Everything ``fashionlab train keypoints`` needs (presets: ``tiny``, ``cpu``, ``paper``)."""

    data: str = ""  # dataset folder (fashionlab format) with keypoints (SynthFashion has them)
    image_size: tuple[int, int] = (128, 64)  # (height, width) of the network's input; multiples of 2^len(widths)
    resize: str = "fit"  # how other aspects are fitted: fit, crop or stretch
    flip: bool = True  # random horizontal flips (left and right keypoints swapped)
    zoom: float = 0.0  # random zoom by a factor in [1 - zoom, 1 + zoom] about the image centre (0: off)
    shift: float = 0.0  # random shift by up to this fraction of the width / height (0: off)
    val_samples: int = 256  # validation images scored at every sample step
    sample_images: int = 8  # validation images drawn in each sample sheet
    model: KeypointNetModelConfig = field(default_factory=KeypointNetModelConfig)
    loss: KeypointLossConfig = field(default_factory=KeypointLossConfig)
    optim: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(kind="adam", lr=1e-3, betas=(0.9, 0.999), lr_decay_start=0.6)
    )
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=6000, batch_size=32))


# ----------------------------------------------------------------------------------- targets and loss
def keypoint_targets(
    keypoints: torch.Tensor, heatmap_size: tuple[int, int], sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets of ``(B, 18, 2)`` input-pixel keypoints: ``(B, 18, h, w)`` Gaussian heatmaps on the
    stride-4 grid of size ``heatmap_size`` (peak 1 on a pixel centre, all zero for a missing point) and
    ``(B, 18)`` bool visibility."""
    h, w = heatmap_size
    positions = input_to_heatmap(_as_float_tensor(keypoints))
    visible = ~keypoint_missing(positions)
    return heatmaps_torch(positions, h, w, sigma=sigma), visible


def keypoint_loss(
    heatmaps: torch.Tensor, targets: torch.Tensor, visible: torch.Tensor, missing_weight: float = 1.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Heatmap MSE: the mean squared error of each channel, averaged over the channels with weight 1 for
    a visible point and ``missing_weight`` for a missing one (its target is all zero).

    Returns ``(loss, scalars)``: ``loss`` and the per-channel MSE of the visible (``mse_visible``) and
    missing (``mse_missing``) points, detached."""
    if heatmaps.shape != targets.shape or visible.shape != heatmaps.shape[:2]:
        raise ValueError(f"shapes differ: {tuple(heatmaps.shape)}, {tuple(targets.shape)}, {tuple(visible.shape)}")
    per_channel = (heatmaps.float() - targets.float()).pow(2).mean(dim=(-2, -1))  # (B, 18)
    vis = visible.to(per_channel.dtype)
    weights = vis + missing_weight * (1.0 - vis)
    loss = (per_channel * weights).sum() / weights.sum().clamp_min(1e-12)
    with torch.no_grad():
        mse_visible = (per_channel * vis).sum() / vis.sum().clamp_min(1.0)
        mse_missing = (per_channel * (1 - vis)).sum() / (1 - vis).sum().clamp_min(1.0)
    return loss, {"loss": loss.detach(), "mse_visible": mse_visible, "mse_missing": mse_missing}


# ------------------------------------------------------------------------------------------- decoding
def decode_heatmaps(
    heatmaps: torch.Tensor, stride: float = HEATMAP_STRIDE, threshold: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints from ``(B, 18, h, w)`` heatmaps: ``((B, 18, 2) [x, y] input pixels, (B, 18) peak values)``.

    Each point is its heatmap's arg-max, moved a quarter of a heatmap pixel toward the higher of its two
    neighbours on each axis (none at the border or on a tie), then mapped to input pixels by
    :func:`heatmap_to_input` (``stride`` 1: heatmap pixels). With ``threshold``, points whose peak is
    below it are reported missing (-1)."""
    if heatmaps.dim() != 4:
        raise ValueError(f"heatmaps must have shape (B, K, h, w), got {tuple(heatmaps.shape)}")
    hm = heatmaps.detach().float()
    b, k, h, w = hm.shape
    peak, index = hm.flatten(2).max(-1)  # (B, K)
    iy, ix = index // w, index % w
    rows = hm.gather(2, iy[..., None, None].expand(b, k, 1, w)).squeeze(2)  # (B, K, w): the peak's row
    cols = hm.gather(3, ix[..., None, None].expand(b, k, h, 1)).squeeze(3)  # (B, K, h): the peak's column

    def quarter(line: torch.Tensor, i: torch.Tensor, n: int) -> torch.Tensor:
        after = line.gather(-1, (i + 1).clamp(max=n - 1)[..., None]).squeeze(-1)
        before = line.gather(-1, (i - 1).clamp(min=0)[..., None]).squeeze(-1)
        inside = (i > 0) & (i < n - 1)
        return torch.where(inside, 0.25 * torch.sign(after - before), torch.zeros_like(after))

    x = ix.float() + quarter(rows, ix, w)
    y = iy.float() + quarter(cols, iy, h)
    kps = heatmap_to_input(torch.stack([x, y], -1), stride)
    if threshold is not None:
        kps = torch.where((peak < threshold)[..., None], torch.full_like(kps, MISSING), kps)
    return kps, peak


# -------------------------------------------------------------------------------------------- network
def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3x3 conv + BN layers with an identity shortcut (ResNet's basic block, fixed width)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(x + body(x))``, same shape as ``x``."""
        return F.relu(x + self.body(x))


class KeypointNet(nn.Module):
    """Image ``(B, 3, H, W)`` in [-1, 1] -> 18 heatmaps ``(B, 18, H/4, W/4)`` (see the module docstring).

    ``preprocess`` is the input contract (size, resize mode); ``H`` and ``W`` must be multiples of
    ``2 ** len(cfg.widths)``. :meth:`predict` gives keypoints in the input's pixels."""

    def __init__(self, cfg: KeypointNetModelConfig, preprocess: Preprocess):
        super().__init__()
        if len(cfg.widths) < 2:
            raise InputError("model.widths needs at least 2 stages (stride 4)", field="model.widths")
        if cfg.blocks < 0 or cfg.decoder_width < 1 or min(cfg.widths) < 1:
            raise InputError("model widths and blocks must be positive", field="model")
        self.cfg = cfg
        self.preprocess = preprocess
        self.divisor = 2 ** len(cfg.widths)
        h, w = preprocess.size
        if h % self.divisor or w % self.divisor:
            raise InputError(
                f"image_size {h}x{w} must be a multiple of {self.divisor} (2 ** len(model.widths))",
                field="image_size",
            )
        stages, cin = [], 3
        for width in cfg.widths:
            stages.append(
                nn.Sequential(_conv_bn_relu(cin, width, 2), *[ResidualBlock(width) for _ in range(cfg.blocks)])
            )
            cin = width
        self.encoder = nn.ModuleList(stages)
        n_up = len(cfg.widths) - 2  # from stride 2^len(widths) up to stride 4
        d = cfg.decoder_width
        self.reduce = nn.Sequential(nn.Conv2d(cin, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True))
        self.up = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(d, d, 4, 2, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True))
            for _ in range(n_up)
        )
        # lateral projections of the encoder stages at strides 2^(len-1) ... 4, in decoding order
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cfg.widths[-2 - i], d, 1, bias=False), nn.BatchNorm2d(d))
            for i in range(n_up if cfg.skips else 0)
        )
        self.head = nn.Conv2d(d, NUM_KEYPOINTS, 1)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(h, w) of the output heatmaps: the input size / 4."""
        h, w = self.preprocess.size
        return h // HEATMAP_STRIDE, w // HEATMAP_STRIDE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> raw heatmaps ``(B, 18, H/4, W/4)``."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % self.divisor or x.shape[3] % self.divisor:
            raise ValueError(f"expected (B, 3, H, W) with H, W multiples of {self.divisor}, got {tuple(x.shape)}")
        in_h, in_w = x.shape[-2:]
        features = []
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        y = self.reduce(x)
        for i, up in enumerate(self.up):
            y = up(y)
            if self.cfg.skips:
                y = y + self.lateral[i](features[-2 - i])
        out = self.head(y)
        assert out.shape[-2:] == (in_h // HEATMAP_STRIDE, in_w // HEATMAP_STRIDE), out.shape
        return out

    @torch.no_grad()
    def predict_with_confidence(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, H, W)`` images in [-1, 1] (any size: resized to the model's with
        ``preprocess.fit_batch``) -> (keypoints ``(B, 18, 2)`` in the images' own pixels with -1 for a
        point whose heatmap peak is below ``threshold``, peak values ``(B, 18)``)."""
        h, w = images.shape[-2:]
        x = self.preprocess.fit_batch(images)
        heatmaps = self(x).float()
        kps, peak = decode_heatmaps(heatmaps, HEATMAP_STRIDE, self.cfg.threshold)
        mh, mw = x.shape[-2:]
        if (mh, mw) != (h, w):  # undo fit_batch's geometry (scale and padding/crop offset, pixel centres)
            back = mark_outside_missing(Placement.of((h, w), (mh, mw), self.preprocess.resize).to_source(kps), h, w)
            kps = torch.where(keypoint_missing(kps)[..., None], kps, back)
        return kps, peak

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [-1, 1] -> ``(B, 18, 2)`` ``[x, y]`` keypoints in input pixels, -1 for
        a missing point (see :meth:`predict_with_confidence`)."""
        return self.predict_with_confidence(images)[0]

    @torch.no_grad()
    def predict_image(self, image: np.ndarray) -> np.ndarray:
        """One ``(H, W, 3)`` uint8 picture of any size -> ``(18, 2)`` float32 keypoints in its own pixels
        (resized as ``preprocess`` says, then mapped back exactly; -1 for a missing point)."""
        dev = next(self.parameters()).device
        x = self.preprocess.image(image)[None].to(dev)
        kps = self.predict(x)[0].cpu().numpy()
        return unresize_keypoints(kps, image.shape[:2], self.preprocess.size, self.preprocess.resize)


# ----------------------------------------------------------------------------------------- pictures
def draw_skeleton(image: np.ndarray, keypoints, scale: int = 1) -> np.ndarray:
    """A uint8 ``(H*scale, W*scale, 3)`` copy of ``image`` (nearest-upscaled) with the pose drawn on it:
    :data:`SKELETON` limbs between present points and a dot per present point."""
    h, w = image.shape[:2]
    canvas = Image.fromarray(np.ascontiguousarray(image[..., :3])).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    kps = np.asarray(keypoints, dtype=np.float64)
    present = ~((kps[:, 0] == MISSING) | (kps[:, 1] == MISSING))
    pos = (kps + 0.5) * scale - 0.5
    for a, b in SKELETON:
        if present[a] and present[b]:
            draw.line([tuple(pos[a]), tuple(pos[b])], fill=KEYPOINT_COLOURS[b], width=max(1, scale))
    r = max(1, scale)
    for k in np.flatnonzero(present):
        x, y = pos[k]
        draw.ellipse([x - r, y - r, x + r, y + r], fill=KEYPOINT_COLOURS[k])
    return np.asarray(canvas)


def keypoint_errors(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Validation scalars of ``(N, 18, 2)`` predictions against targets: ``error_px`` (mean distance over
    the points present in both), ``recall`` (visible target points predicted present) and
    ``false_present`` (missing target points predicted present). PCKh proper is in ``fashionlab.metrics``."""
    p_miss, t_miss = keypoint_missing(pred), keypoint_missing(target)
    both = ~p_miss & ~t_miss
    out = {"recall": float((~p_miss[~t_miss]).float().mean()) if (~t_miss).any() else float("nan")}
    out["false_present"] = float((~p_miss[t_miss]).float().mean()) if t_miss.any() else 0.0
    out["error_px"] = float((pred - target).norm(dim=-1)[both].mean()) if both.any() else float("nan")
    return out


# ------------------------------------------------------------------------------------------------ task
class KeypointTask(Task):
    """Heatmap regression of the 18 keypoints of a dataset's items (see the module docstring)."""

    name = "keypoints"

    def __init__(self, cfg: KeypointNetConfig):
        super().__init__()
        from ..data.loader import FashionDataset

        if not cfg.data:
            raise InputError("no dataset given (--data DIR)", field="data")
        self.cfg = cfg
        self.size = (int(cfg.image_size[0]), int(cfg.image_size[1]))
        if not 0 <= cfg.zoom < 1:
            raise InputError(f"zoom must be in [0, 1), got {cfg.zoom}", field="zoom")
        if cfg.shift < 0:
            raise InputError(f"shift must be >= 0, got {cfg.shift}", field="shift")
        self.preprocess = Preprocess(self.size, cfg.resize)
        self.nets["model"] = KeypointNet(cfg.model, self.preprocess)
        self.train_set = FashionDataset(cfg.data, split="train", size=self.size, resize=cfg.resize, with_keypoints=True)
        if len(self.train_set) == 0:
            raise InputError("the dataset has no 'train' items", path=cfg.data)
        self._val: tuple[torch.Tensor, torch.Tensor] | None = None

    def optimizer_settings(self):
        """One Adam(W) over the network (``optim``)."""
        return {"model": (self.nets["model"].parameters(), self.cfg.optim)}

    def train_dataset(self):
        """The ``train`` split with its keypoints in the packed images' pixels."""
        return self.train_set

    def augment(self, images: torch.Tensor, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Random flips (left/right keypoints swapped), zoom and shift of a batch, from the global RNG."""
        b = images.shape[0]
        if self.cfg.flip:
            images, keypoints = flip_batch(images, keypoints, torch.rand(b) < 0.5)
        if self.cfg.zoom > 0 or self.cfg.shift > 0:
            zoom = 1.0 + self.cfg.zoom * (2.0 * torch.rand(b) - 1.0)
            shift = self.cfg.shift * (2.0 * torch.rand(b, 2) - 1.0)
            images, keypoints = zoom_shift(images, keypoints, zoom, shift)
        return images, keypoints

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One batch: augment, build the heatmap targets, heatmap MSE, one optimizer step."""
        net = self.ddp["model"]
        opt = self.optimizers["model"]
        batch = ctx.next_batch()
        images, keypoints = self.augment(batch["image"], batch["keypoints"])
        targets, visible = keypoint_targets(keypoints, self.nets["model"].heatmap_size, self.cfg.loss.sigma)
        with ctx.autocast():
            heatmaps = net(images)
        loss, scalars = keypoint_loss(heatmaps.float(), targets, visible, self.cfg.loss.missing_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return scalars

    def _validation(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        from ..data.loader import FashionDataset

        if self._val is None:
            try:
                val = FashionDataset(
                    self.cfg.data, split="val", size=self.size, resize=self.cfg.resize, with_keypoints=True
                )
            except InputError:
                return None
            n = min(len(val), max(self.cfg.val_samples, self.cfg.sample_images))
            if n == 0:
                return None
            items = [val[i] for i in range(n)]
            self._val = (torch.stack([it["image"] for it in items]), torch.stack([it["keypoints"] for it in items]))
        return self._val

    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger: RunLogger, nets: dict[str, nn.Module]) -> None:
        """Validation errors on ``val_samples`` images and a sheet: ground-truth skeletons (top row) over
        predicted ones (bottom row) on ``sample_images`` validation images."""
        val = self._validation()
        if val is None:
            return
        images, targets = val
        net = nets["model"]
        was_training = net.training
        net.eval()
        dev = next(net.parameters()).device
        preds = torch.cat([net.predict(images[i : i + 64].to(dev)).cpu() for i in range(0, len(images), 64)])
        net.train(was_training)
        n_score = min(len(images), self.cfg.val_samples)
        logger.log(step, {f"val/{k}": v for k, v in keypoint_errors(preds[:n_score], targets[:n_score]).items()})
        n_show = min(len(images), self.cfg.sample_images)
        if n_show == 0:
            return
        pictures = denormalise(images[:n_show])
        scale = max(1, 256 // self.size[0])
        sheet = image_grid(
            [
                [draw_skeleton(p, t.numpy(), scale) for p, t in zip(pictures, targets[:n_show], strict=True)],
                [draw_skeleton(p, k.numpy(), scale) for p, k in zip(pictures, preds[:n_show], strict=True)],
            ]
        )
        out = run_dir / "samples"
        out.mkdir(exist_ok=True)
        Image.fromarray(sheet).save(out / f"keypoints-step-{step:07d}.png")
        logger.image("keypoints", step, sheet)

    def export(self, out_dir: Path, nets: dict[str, nn.Module]) -> Path:
        """The inference export: the network, its architecture (``model.*``) and input contract."""
        return save_export(
            out_dir,
            kind="keypoints",
            nets={"model": nets["model"]},
            config=to_dict(self.cfg.model),
            preprocess=self.preprocess,
            extra={"keypoint_order": "openpose-18", "heatmap_stride": HEATMAP_STRIDE, "sigma": self.cfg.loss.sigma},
        )


# ---------------------------------------------------------------------------- loading and registration
def load_keypoints(config: dict[str, Any], extra: dict[str, Any], preprocess: Preprocess) -> KeypointNet:
    """An untrained keypoint network of an export's architecture (``fashionlab.load`` fills the weights)."""
    del extra
    return KeypointNet(from_dict(KeypointNetModelConfig, config), preprocess)


def infer_keypoints(net: KeypointNet, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Keypoints ``(B, 18, 2)`` (-1 missing), their heatmap peaks ``(B, 18)`` and the heatmaps of a batch."""
    x = batch["image"]
    kps, peak = net.predict_with_confidence(x)
    with torch.no_grad():
        heatmaps = net(net.preprocess.fit_batch(x))
    return {"keypoints": kps, "confidence": peak, "heatmaps": heatmaps}


register_model(
    "keypoints",
    config=KeypointNetConfig,
    task=KeypointTask,
    load=load_keypoints,
    infer=infer_keypoints,
    help="18-keypoint pose estimator: heatmap regression at stride 4 (Simple Baselines style)",
)
