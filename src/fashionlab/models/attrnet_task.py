"""Training and export of the attribute network (``fashionlab train attrnet``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import from_dict, to_dict
from ..engine.export import LOADERS, save_export
from ..engine.logger import RunLogger
from ..engine.trainer import Task, TrainConfig
from ..errors import InputError
from .attrnet import AttrNet, AttrNetModelConfig, LossWeights, attrnet_losses


@dataclass
class AttrNetConfig:
    """Everything ``fashionlab train attrnet`` needs (presets: ``cpu``, ``paper``)."""

    data: str = ""  # dataset folder (fashionlab format)
    image_size: int = 128  # training resolution (square)
    resize: str = "fit"  # how other aspects are fitted: fit, crop or stretch
    flip: bool = True  # random horizontal flips
    hide_prob: float = 0.0  # hide-and-seek: blank each cell of a hide_grid x hide_grid grid with this probability
    hide_grid: int = 8  # (Singh & Lee 2017: spreads activation maps beyond the most discriminative part)
    val_samples: int = 256  # validation images scored at every sample step
    region_attributes: bool = True  # also learn region attributes (sleeves.color ...) the data has
    model: AttrNetModelConfig = field(default_factory=AttrNetModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=3000, batch_size=32, lr=1e-3, weight_decay=1e-4, lr_decay_start=0.5)
    )


class AttrNetTask(Task):
    name = "attrnet"

    def __init__(self, cfg: AttrNetConfig):
        super().__init__()
        from ..data.loader import FashionDataset

        if not cfg.data:
            raise InputError("no dataset given (--data DIR)", field="data")
        self.cfg = cfg
        size = (cfg.image_size, cfg.image_size)
        self.train_set = FashionDataset(cfg.data, split="train", size=size, resize=cfg.resize)
        if len(self.train_set) == 0:
            raise InputError("the dataset has no 'train' items", path=cfg.data)
        schema = self.train_set.schema
        self.attributes = [(a.name, list(a.values)) for a in schema.attributes]
        if not self.attributes:
            raise InputError("the dataset has no attributes to learn", path=cfg.data)
        self.region_attributes = self.train_set.region_attributes if cfg.region_attributes else []
        self.nets["model"] = AttrNet(self.attributes, cfg.model, self.region_attributes)
        self.class_weights = self._class_weights() if cfg.loss.class_weights else None
        self._val = None

    def _class_weights(self) -> list[torch.Tensor]:
        counts = self.train_set.value_counts()
        out = []
        for name, values in self.attributes:
            c = torch.tensor([max(1, counts[name].get(v, 0)) for v in values], dtype=torch.float32)
            w = c.sum() / (len(c) * c)
            out.append(w / w.mean())
        return out

    def build_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {
            "model": torch.optim.AdamW(
                self.nets["model"].parameters(), lr=train.lr, betas=tuple(train.betas), weight_decay=train.weight_decay
            )
        }

    def train_dataset(self):
        return self.train_set

    def train_step(
        self, batch: dict[str, Any], step: int, autocast: contextlib.AbstractContextManager
    ) -> dict[str, float]:
        net = self.nets["model"]
        opt = self.optimizers["model"]
        x = batch["image"]
        y = batch["attributes"]
        dev = next(net.parameters()).device
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        y_region = batch["region_attributes"].to(dev, non_blocking=True)
        if self.cfg.flip:
            flip = torch.rand(x.shape[0]) < 0.5
            x = torch.where(flip.to(dev)[:, None, None, None], x.flip(-1), x)
        if self.cfg.hide_prob > 0:
            g = self.cfg.hide_grid
            keep = (torch.rand(x.shape[0], 1, g, g) >= self.cfg.hide_prob).to(dev, x.dtype)
            x = x * torch.nn.functional.interpolate(keep, size=x.shape[-2:], mode="nearest")  # hidden = grey
        with autocast:
            out = net(x)
            loss, scalars = attrnet_losses(out, y, self.cfg.loss, self.class_weights, y_region)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return scalars

    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger: RunLogger) -> None:
        """Validation accuracy per attribute on ``val_samples`` images, and an AAM overlay sheet."""
        from ..data.loader import FashionDataset

        net = self.nets["model"]
        net = net.module if hasattr(net, "module") else net
        if self._val is None:
            try:
                val = FashionDataset(
                    self.cfg.data, split="val", size=(self.cfg.image_size,) * 2, resize=self.cfg.resize
                )
            except InputError:
                return
            n = min(len(val), self.cfg.val_samples)
            if n == 0:
                return
            items = [val[i] for i in range(n)]
            self._val = tuple(
                torch.stack([it[k] for it in items]) for k in ("image", "attributes", "region_attributes")
            )
        x, y, y_region = self._val
        net.eval()
        dev = next(net.parameters()).device
        preds, r_preds = [], []
        for i in range(0, len(x), 64):
            out = net(x[i : i + 64].to(dev))
            preds.append(torch.stack([lg.argmax(1).cpu() for lg in out.rep_logits], 1))
            if out.region_rep_logits:
                r_preds.append(torch.stack([lg.argmax(1).cpu() for lg in out.region_rep_logits], 1))
        pred = torch.cat(preds)
        scalars = {}
        for a, (name, _) in enumerate(self.attributes):
            known = y[:, a] >= 0
            if known.any():
                scalars[f"val_acc/{name}"] = float((pred[known, a] == y[known, a]).float().mean())
        if scalars:
            scalars["val_acc/mean"] = float(np.mean(list(scalars.values())))
        if self.region_attributes and y_region.shape[1] == len(self.region_attributes):
            r_pred = torch.cat(r_preds)
            for r, (name, _) in enumerate(self.region_attributes):
                known = y_region[:, r] >= 0
                if known.any():
                    scalars[f"val_acc/{name}"] = float((r_pred[known, r] == y_region[known, r]).float().mean())
        logger.log(step, scalars)
        sheet = aam_sheet(net, x[:6].to(dev), self.attributes)
        out = run_dir / "samples"
        out.mkdir(exist_ok=True)
        Image.fromarray(sheet).save(out / f"aam-step-{step:07d}.png")
        logger.image("aam", step, sheet)
        net.train()

    def export(self, out_dir: Path, nets: dict[str, torch.nn.Module]) -> Path:
        return export_attrnet(out_dir, nets["model"], self.cfg, self.attributes, self.region_attributes)


def export_attrnet(out_dir: Path, net: AttrNet, cfg: AttrNetConfig, attributes, region_attributes=()) -> Path:
    return save_export(
        out_dir,
        kind="attrnet",
        nets={"model": net},
        config=to_dict(cfg.model),
        extra={
            "attributes": [[n, v] for n, v in attributes],
            "region_attributes": [[n, v] for n, v in region_attributes],
            "image_size": cfg.image_size,
            "resize": cfg.resize,
            "input_range": [-1, 1],
        },
    )


@LOADERS.register("attrnet", help="FashionSearchNet attribute network")
def _load_attrnet(config: dict[str, Any], extra: dict[str, Any]) -> AttrNet:
    net = AttrNet(
        [(n, v) for n, v in extra["attributes"]],
        from_dict(AttrNetModelConfig, config),
        [(n, v) for n, v in extra.get("region_attributes", [])],
    )
    net.image_size = int(extra.get("image_size", 128))
    net.resize_mode = extra.get("resize", "fit")
    return net


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Blend a [0, 1] heat map (jet-like colours) over a uint8 image."""
    h = np.clip(heat, 0, 1)[..., None]
    color = np.concatenate(
        [
            np.clip(1.5 - np.abs(4 * h - 3), 0, 1),
            np.clip(1.5 - np.abs(4 * h - 2), 0, 1),
            np.clip(1.5 - np.abs(4 * h - 1), 0, 1),
        ],
        axis=-1,
    )
    return (0.5 * image + 0.5 * 255 * color).astype(np.uint8)


@torch.no_grad()
def aam_sheet(net: AttrNet, x: torch.Tensor, attributes) -> np.ndarray:
    """Rows: images; columns: the image, then the AAM of each attribute's predicted value."""
    imgs = ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    rows = []
    for i in range(len(x)):
        row = [imgs[i]]
        for a in range(len(attributes)):
            cam = net.cam(x[i : i + 1], a)[0].cpu().numpy()
            row.append(overlay(imgs[i], cam))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
