"""Training and export of the attribute network (``fashionlab train attrnet``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import from_dict, to_dict
from ..data.imaging import Preprocess
from ..engine.export import save_export
from ..engine.logger import RunLogger
from ..engine.task import OptimizerConfig, StepContext, Task
from ..engine.trainer import TrainConfig
from ..errors import InputError
from ..viz import aam_sheet
from .attrnet import AttrNet, AttrNetModelConfig, LossWeights, attrnet_losses
from .registry import register_model


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
    optim: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(kind="adamw", lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4)
    )
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3000, batch_size=32))


class AttrNetTask(Task):
    name = "attrnet"

    def __init__(self, cfg: AttrNetConfig):
        super().__init__()
        self.cfg = cfg
        self.train_set, self.attributes = open_training_split(cfg.data, cfg.image_size, cfg.resize)
        self.region_attributes = self.train_set.region_attributes if cfg.region_attributes else []
        self.preprocess = Preprocess((cfg.image_size, cfg.image_size), cfg.resize)
        self.nets["model"] = AttrNet(self.attributes, cfg.model, self.region_attributes, preprocess=self.preprocess)
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

    def optimizer_settings(self):
        return {"model": (self.nets["model"].parameters(), self.cfg.optim)}

    def train_dataset(self):
        return self.train_set

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        net = self.ddp["model"]
        opt = self.optimizers["model"]
        batch = ctx.next_batch()
        x, y, y_region = batch["image"], batch["attributes"], batch["region_attributes"]
        dev = x.device
        if self.cfg.flip:
            flip = torch.rand(x.shape[0]) < 0.5
            x = torch.where(flip.to(dev)[:, None, None, None], x.flip(-1), x)
        if self.cfg.hide_prob > 0:
            g = self.cfg.hide_grid
            keep = (torch.rand(x.shape[0], 1, g, g) >= self.cfg.hide_prob).to(dev, x.dtype)
            x = x * torch.nn.functional.interpolate(keep, size=x.shape[-2:], mode="nearest")  # hidden = grey
        with ctx.autocast():
            out = net(x)
            loss, scalars = attrnet_losses(out, y, self.cfg.loss, self.class_weights, y_region)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return scalars

    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger: RunLogger, nets: dict[str, torch.nn.Module]) -> None:
        """Validation accuracy per attribute on ``val_samples`` images, and an AAM overlay sheet."""
        net = nets["model"]
        was_training = net.training
        if self._val is None:
            keys = ("image", "attributes", "region_attributes")
            self._val = validation_items(
                self.cfg.data, self.cfg.image_size, self.cfg.resize, self.cfg.val_samples, keys
            )
            if self._val is None:
                return
        x, y, y_region = self._val
        net.eval()
        dev = next(net.parameters()).device
        preds, r_preds = [], []
        for i in range(0, len(x), 64):
            out = net(x[i : i + 64].to(dev))
            preds.append(torch.stack([lg.argmax(1).cpu() for lg in out.rep_logits], 1))
            if out.region_rep_logits:
                r_preds.append(torch.stack([lg.argmax(1).cpu() for lg in out.region_rep_logits], 1))
        scalars = attribute_accuracy(torch.cat(preds), y, [n for n, _ in self.attributes])
        if scalars:
            scalars["val_acc/mean"] = float(np.mean(list(scalars.values())))
        if self.region_attributes and y_region.shape[1] == len(self.region_attributes):
            scalars.update(attribute_accuracy(torch.cat(r_preds), y_region, [n for n, _ in self.region_attributes]))
        logger.log(step, scalars)
        sheet = aam_sheet(net, x[:6].to(dev), self.attributes)
        out = run_dir / "samples"
        out.mkdir(exist_ok=True)
        Image.fromarray(sheet).save(out / f"aam-step-{step:07d}.png")
        logger.image("aam", step, sheet)
        net.train(was_training)

    def export(self, out_dir: Path, nets: dict[str, torch.nn.Module]) -> Path:
        return export_attrnet(out_dir, nets["model"], self.cfg, self.attributes, self.region_attributes)


def open_training_split(data: str, image_size: int, resize: str):
    """(the ``train`` split of the dataset at ``data``, fitted to ``image_size`` squared by ``resize``, its
    garment attributes ``[(name, [values...])]``); an InputError when there is no dataset, no training item
    or no attribute to learn."""
    from ..data.loader import FashionDataset

    if not data:
        raise InputError("no dataset given (--data DIR)", field="data")
    train_set = FashionDataset(data, split="train", size=(image_size, image_size), resize=resize)
    if len(train_set) == 0:
        raise InputError("the dataset has no 'train' items", path=data)
    attributes = [(a.name, list(a.values)) for a in train_set.schema.attributes]
    if not attributes:
        raise InputError("the dataset has no attributes to learn", path=data)
    return train_set, attributes


def validation_items(
    data: str, image_size: int, resize: str, limit: int, keys: tuple[str, ...]
) -> tuple[torch.Tensor, ...] | None:
    """The first ``limit`` items of the ``val`` split, each of ``keys`` stacked; None when there are none."""
    from ..data.loader import FashionDataset

    try:
        val = FashionDataset(data, split="val", size=(image_size, image_size), resize=resize)
    except InputError:
        return None
    n = min(len(val), limit)
    if n == 0:
        return None
    items = [val[i] for i in range(n)]
    return tuple(torch.stack([it[k] for it in items]) for k in keys)


def attribute_accuracy(pred: torch.Tensor, y: torch.Tensor, names: list[str]) -> dict[str, float]:
    """``{"val_acc/NAME": accuracy}`` of predicted value indices ``pred`` (N, A) against labels ``y`` (N, A),
    over the known labels (>= 0); attributes without a known label are left out."""
    out = {}
    for a, name in enumerate(names):
        known = y[:, a] >= 0
        if known.any():
            out[f"val_acc/{name}"] = float((pred[known, a] == y[known, a]).float().mean())
    return out


def export_attrnet(out_dir: Path, net: AttrNet, cfg: AttrNetConfig, attributes, region_attributes=()) -> Path:
    """Write an attribute network's inference export."""
    return save_export(
        out_dir,
        kind="attrnet",
        nets={"model": net},
        config=to_dict(cfg.model),
        preprocess=Preprocess((cfg.image_size, cfg.image_size), cfg.resize),
        extra={
            "attributes": [[n, v] for n, v in attributes],
            "region_attributes": [[n, v] for n, v in region_attributes],
        },
    )


def load_attrnet(config: dict[str, Any], extra: dict[str, Any], preprocess: Preprocess) -> AttrNet:
    """An untrained attribute network of an export's architecture (``fashionlab.load`` fills the weights)."""
    return AttrNet(
        [(n, v) for n, v in extra["attributes"]],
        from_dict(AttrNetModelConfig, config),
        [(n, v) for n, v in extra.get("region_attributes", [])],
        preprocess=preprocess,
    )


def infer_attrnet(net: AttrNet, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Attribute probabilities, the activation map of the first attribute and the global embedding."""
    x = batch["image"]
    probs = net.predict(x)
    with torch.no_grad():
        _, global_rep = net.embed(x)
        cam = net.cam(x, 0)
    return {**{f"p/{n}": p for (n, _), p in zip(net.attributes, probs, strict=True)}, "cam": cam, "embed": global_rep}


register_model(
    "attrnet",
    config=AttrNetConfig,
    task=AttrNetTask,
    load=load_attrnet,
    infer=infer_attrnet,
    help="FashionSearchNet attribute network with localisation (AAMs)",
)
