"""Training and export of the residual attribute classifier (``fashionlab train attrclf``).

Per attribute cross-entropy (unknown labels masked, optional label smoothing), AdamW, augmentation that
never touches hue or saturation (:func:`.attrclf.augment`), and, when ``model.embed_dim`` > 0, the
retrieval projection trained with the global ranking triplet on detached pooled features. Every
``train.sample_every`` steps (and at the end) the validation split's accuracy per attribute is logged
(``val_acc/NAME``, ``val_acc/mean``, ``val_acc/min``; stats.jsonl and TensorBoard) with the embedding's
nearest-neighbour agreement (``val_nn_agreement``: the share of attributes a validation image's nearest
other validation image shares with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import from_dict, to_dict
from ..data.imaging import Preprocess
from ..engine.export import save_export
from ..engine.logger import RunLogger
from ..engine.task import OptimizerConfig, StepContext, Task
from ..engine.trainer import TrainConfig
from ..losses.attributes import attribute_cross_entropy
from .attrclf import AttrClfModelConfig, AttributeClassifier, AugmentConfig, augment
from .attrnet import ranking_triplet
from .attrnet_task import attribute_accuracy, open_training_split, validation_items
from .registry import register_model


@dataclass
class AttrClfLoss:
    """Loss settings (``loss.*``)."""

    label_smoothing: float = 0.0  # label smoothing of every attribute's cross-entropy (0: none)
    embed: float = 1.0  # weight of the ranking triplet on the retrieval embedding (needs model.embed_dim > 0)
    margin: float = 0.2  # triplet margin (cosine distance units)


@dataclass
class AttrClfConfig:
    """Everything ``fashionlab train attrclf`` needs (presets: ``tiny``, ``cpu64``, ``cpu``, ``paper``)."""

    data: str = ""  # dataset folder (fashionlab format)
    image_size: int = 64  # training resolution (square)
    resize: str = "fit"  # how other aspects are fitted: fit, crop or stretch
    val_samples: int = 1000  # validation images scored at every sample step
    model: AttrClfModelConfig = field(default_factory=AttrClfModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: AttrClfLoss = field(default_factory=AttrClfLoss)
    optim: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(kind="adamw", lr=2e-3, betas=(0.9, 0.999), weight_decay=5e-4)
    )
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=4000, batch_size=64, precision="fp32"))


class AttrClfTask(Task):
    name = "attrclf"

    def __init__(self, cfg: AttrClfConfig):
        super().__init__()
        self.cfg = cfg
        self.train_set, self.attributes = open_training_split(cfg.data, cfg.image_size, cfg.resize)
        self.preprocess = Preprocess((cfg.image_size, cfg.image_size), cfg.resize)
        self.nets["model"] = AttributeClassifier(self.attributes, cfg.model, preprocess=self.preprocess)
        self._val: tuple[torch.Tensor, ...] | None = None

    def optimizer_settings(self):
        return {"model": (self.nets["model"].parameters(), self.cfg.optim)}

    def train_dataset(self):
        return self.train_set

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        net = self.ddp["model"]
        opt = self.optimizers["model"]
        batch = ctx.next_batch()
        x, y = augment(batch["image"], self.cfg.augment), batch["attributes"]
        sizes = [len(v) for _, v in self.attributes]
        w = self.cfg.loss
        with ctx.autocast():
            out = net(x)
            loss, scalars = attribute_cross_entropy(
                torch.cat(out.logits, 1), y, sizes, "cls", label_smoothing=w.label_smoothing
            )
            if w.embed > 0 and self.cfg.model.embed_dim > 0:
                tri = ranking_triplet(out.global_rep, y, w.margin)
                loss = loss + w.embed * tri
                scalars["embed_triplet"] = tri.detach()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), **scalars}

    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger: RunLogger, nets: dict[str, torch.nn.Module]) -> None:
        """Validation accuracy per attribute and the embedding's nearest-neighbour agreement."""
        del run_dir
        if self._val is None:
            c = self.cfg
            self._val = validation_items(c.data, c.image_size, c.resize, c.val_samples, ("image", "attributes"))
            if self._val is None:
                return
        net = nets["model"]
        was_training = net.training
        net.eval()
        x, y = self._val
        dev = next(net.parameters()).device
        preds, embs = [], []
        for i in range(0, len(x), 128):
            out = net(x[i : i + 128].to(dev))
            preds.append(torch.stack([lg.argmax(1).cpu() for lg in out.logits], 1))
            embs.append(out.global_rep.float().cpu())
        net.train(was_training)
        scalars = validation_scalars(torch.cat(preds), torch.cat(embs), y, [n for n, _ in self.attributes])
        logger.log(step, scalars)

    def export(self, out_dir: Path, nets: dict[str, torch.nn.Module]) -> Path:
        return export_attrclf(out_dir, nets["model"], self.cfg, self.attributes)


def validation_scalars(pred: torch.Tensor, emb: torch.Tensor, y: torch.Tensor, names: list[str]) -> dict[str, float]:
    """``val_acc/NAME`` per attribute (known labels only), their mean and minimum, and ``val_nn_agreement``
    (the share of known attributes each image's nearest other image by ``emb`` shares with it)."""
    scalars = attribute_accuracy(pred, y, names)
    if scalars:
        scalars["val_acc/mean"] = float(np.mean(list(scalars.values())))
        scalars["val_acc/min"] = min(v for k, v in scalars.items() if k != "val_acc/mean")
    if len(emb) > 1:
        sim = emb @ emb.t()
        sim.fill_diagonal_(-float("inf"))
        nn_y = y[sim.argmax(1)]
        both = (y >= 0) & (nn_y >= 0)
        scalars["val_nn_agreement"] = float(((y == nn_y) & both).sum() / both.sum().clamp_min(1))
    return scalars


def export_attrclf(out_dir: Path, net: AttributeClassifier, cfg: AttrClfConfig, attributes) -> Path:
    """Write a residual attribute classifier's inference export."""
    return save_export(
        out_dir,
        kind="attrclf",
        nets={"model": net},
        config=to_dict(cfg.model),
        preprocess=Preprocess((cfg.image_size, cfg.image_size), cfg.resize),
        extra={"attributes": [[n, v] for n, v in attributes]},
    )


def load_attrclf(config: dict[str, Any], extra: dict[str, Any], preprocess: Preprocess) -> AttributeClassifier:
    """An untrained classifier of an export's architecture (``fashionlab.load`` fills the weights)."""
    return AttributeClassifier(
        [(n, v) for n, v in extra["attributes"]], from_dict(AttrClfModelConfig, config), preprocess=preprocess
    )


def infer_attrclf(net: AttributeClassifier, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Attribute probabilities and the retrieval embedding."""
    x = batch["image"]
    with torch.no_grad():
        out = net(x)
    probs = {f"p/{n}": torch.softmax(lg.float(), dim=1) for (n, _), lg in zip(net.attributes, out.logits, strict=True)}
    return {**probs, "embed": out.global_rep}


register_model(
    "attrclf",
    config=AttrClfConfig,
    task=AttrClfTask,
    load=load_attrclf,
    infer=infer_attrclf,
    help="plain residual attribute classifier (ResNet, no CAMs): an evaluator of another architecture family",
)
