"""The adversarial training task every attribute editor shares (StarGAN, AMGAN, GANimation, SaGAN).

One iteration (``train.steps`` counts them): a critic update on a fresh batch, and every ``n_critic``
iterations a generator update on another fresh batch.

- Critic(s): WGAN-GP on the whole image (D_I) and, with ``model.use_dc``, on the attention crop (D_C:
  half-size input, two layers fewer, the same box cropped from real and fake); each also classifies the
  real image's attributes (cross-entropy, unknown labels masked).
- Generator: adversarial + ``loss.cls`` x classification of x* as the target attributes (from every
  critic) + ``loss.rec`` x cycle L1 (x* edited back with the source code) and, for AMGAN, ``loss.attention``
  x |a - CAM|_1 (CAM of the target value from the frozen classifier, min-max normalised) and
  ``loss.perceptual`` x L1 between the frozen classifier's conv5 features of x* and of a real reference
  image having exactly the target attributes (nearest tuple as a fallback, logged as ``ref_fallback``).
- ``loss.frozen_cls`` (0 in the papers) adds the frozen classifier's cross-entropy of x* toward the
  target: a training signal from step 0, while the critics' heads are still learning.
- ``loss.change_tv`` (0 in the papers): total variation of x* - x (:func:`change_total_variation`).
- ``loss.cls_blur`` (0 in the papers): every classification read (the critics' attribute heads, real and
  fake, and the frozen classifier with its perceptual reference) sees the image blurred by a Gaussian of
  this sigma (:mod:`.lowpass`); the adversarial heads and the gradient penalty see it unblurred.
- ``loss.paired`` (a diagnostic, SynthFashion only): L1 toward the exact re-render with the target
  attributes (:mod:`.paired`): the ceiling of the same generator at the same budget.
- GANimation: ``loss.mask_l1`` x the mean and ``loss.mask_smooth`` x the summed total variation of the
  generator's own mask A, for the forward and the cycle masks (:mod:`fashionlab.losses.attention`).
- SaGAN: ``loss.identity`` x |G(x, source code) - x|_1 (the re-implementation's 100; its cycle is
  ``loss.rec`` 20).

Masks: a generator returns its *own* mask (AMGAN and SaGAN: 1 = edited; GANimation: A, 1 = kept). The task
turns it into an edit mask (1 = edited) wherever a mask is compared (the CAM target), cropped (D_C),
shown (sample grids) or given (a CAM as the mask); the regularisers and ``mask_mean`` (in stats) take the
own mask; ``mask_collapse`` is 1 on a generator step whose batch mean of the mask lies outside
[0.02, 0.98] (all-keep or all-edit; stats.jsonl gives the share of such steps per logging interval), and a
red frame marks each collapsed mask in the sample grids.

Ablations (AMGAN Table 3): ``model.use_dc``, ``loss.perceptual = 0``, ``loss.attention = 0``,
``model.cam_as_mask`` (the CAM itself as the mask instead of a learnt one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...config import to_dict
from ...data.imaging import Preprocess, denormalise
from ...engine.export import save_export
from ...engine.task import StepContext, Task
from ...errors import InputError
from ...losses.attention import mask_collapse, mask_mean, mask_total_variation
from ...losses.attributes import attribute_cross_entropy
from ...losses.gan import gradient_penalty, l1_loss, wgan_critic_loss, wgan_generator_loss
from ...viz import image_grid, overlay
from ..registry import load, model_path, shipped_asset_name
from .cams import contrast_cams, target_cams
from .codes import AttributeSpace
from .config import EditGanConfig
from .crop import crop_and_resize, mask_boxes
from .lowpass import gaussian_blur
from .networks import Discriminator, DiscriminatorConfig


def change_total_variation(output: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total variation of the change ``output - x`` (both (B, 3, H, W)): the mean absolute difference between
    horizontally and vertically neighbouring pixels of the change. Zero for no change or a constant shift;
    large for speckle and multicoloured noise."""
    d = (output - x).float()
    tv = (d[..., 1:, :] - d[..., :-1, :]).abs().mean() + (d[..., :, 1:] - d[..., :, :-1]).abs().mean()
    return tv, {"change_tv": tv.detach()}


class Generated(NamedTuple):
    """A generator's output: the image, its edit mask (1 = edited) and the generator's own mask (the same
    for AMGAN and SaGAN; GANimation's A = 1 - edit); both masks None without attention."""

    image: torch.Tensor
    edit: torch.Tensor | None
    own: torch.Tensor | None


def _framed(tile: np.ndarray, colour=(255, 0, 0), width: int = 2) -> np.ndarray:
    """A copy of the uint8 (H, W, 3) ``tile`` with a ``width``-pixel frame of ``colour``."""
    out = tile.copy()
    out[:width], out[-width:], out[:, :width], out[:, -width:] = colour, colour, colour, colour
    return out


class EditGanTask(Task):
    """See the module docstring. Subclasses set ``name``."""

    name = "editgan"

    def __init__(self, cfg: EditGanConfig):
        super().__init__()
        from ...data.loader import FashionDataset
        from ...data.reference import ReferenceSampler

        if not cfg.data:
            raise InputError("no dataset given (--data DIR)", field="data")
        self.cfg = cfg
        self.preprocess = Preprocess((cfg.image_size, cfg.image_size), cfg.resize)
        self.dataset = FashionDataset(cfg.data, split="train", size=self.preprocess.size, resize=cfg.resize)
        if len(self.dataset) == 0:
            raise InputError("the dataset has no 'train' items", path=cfg.data)
        self.space = AttributeSpace([(a.name, list(a.values)) for a in self.dataset.schema.attributes])
        m, loss = cfg.model, cfg.loss
        needs_classifier = loss.attention or loss.perceptual or loss.frozen_cls or m.cam_as_mask
        if needs_classifier and not cfg.classifier:
            raise InputError(
                "this configuration needs a frozen attribute network (classifier=PATH of an attrnet export)",
                field="classifier",
            )
        if (loss.attention or loss.mask_l1 or loss.mask_smooth or m.cam_as_mask or m.use_dc) and not m.has_attention():
            raise InputError(
                "attention loss, mask regularisers, cam_as_mask and use_dc need model.generator.attention=true",
                field="model",
            )
        if cfg.targets not in ("one", "permuted"):
            raise InputError(f"expected one or permuted, got {cfg.targets!r}", field="targets")
        if cfg.targets == "permuted" and (loss.attention or loss.perceptual or m.cam_as_mask or m.use_dc):
            raise InputError(
                "permuted targets change several attributes: StarGAN only (no CAMs, crop or references)",
                field="targets",
            )
        if not 0 <= loss.cls_blur <= cfg.image_size / 8:
            raise InputError(
                f"expected a blur sigma in pixels between 0 and image_size / 8, got {loss.cls_blur}",
                field="loss.cls_blur",
            )
        gen = m.generator  # every editor's model config has one (SaGAN's: its AMN)
        if not 0 <= gen.content_blur <= cfg.image_size / 8:
            raise InputError(
                f"expected a blur sigma in pixels between 0 and image_size / 8, got {gen.content_blur}",
                field="model.generator.content_blur",
            )
        if not 0 <= gen.mask_floor < 1:
            raise InputError(
                f"expected a mask floor in [0, 1), got {gen.mask_floor}", field="model.generator.mask_floor"
            )
        if not 0 < m.region_threshold < 1:
            raise InputError(
                f"expected a region threshold in (0, 1), got {m.region_threshold}", field="model.region_threshold"
            )
        if loss.cls_reduction not in ("mean", "sum"):
            raise InputError(f"expected mean or sum, got {loss.cls_reduction!r}", field="loss.cls_reduction")
        if m.cam_target not in ("target", "source", "union", "contrast"):
            raise InputError(
                f"expected target, source, union or contrast, got {m.cam_target!r}", field="model.cam_target"
            )
        if cfg.classifier:
            clf = self.add_frozen("classifier", load(cfg.classifier), source=model_path(cfg.classifier))
            if [n for n, _ in clf.attributes] != self.space.names:
                raise InputError(
                    f"the classifier knows {[n for n, _ in clf.attributes]}, the dataset {self.space.names}",
                    path=cfg.classifier,
                )
        self.nets["G"] = m.build_generator(self.space.code_dim)  # after the classifier: the seeded weights
        self.nets["D_I"] = Discriminator(self.preprocess.size, self.space.n_values, m.discriminator)
        self.crop_size = (cfg.image_size // 2, cfg.image_size // 2)  # D_C's input: the crop at half size
        if m.use_dc:
            dc = DiscriminatorConfig(m.discriminator.width, m.discriminator.layers - 2, m.discriminator.max_width)
            self.nets["D_C"] = Discriminator(self.crop_size, self.space.n_values, dc)
        self.references = ReferenceSampler(self.dataset.labels) if loss.perceptual else None
        if loss.paired:
            from .paired import check_synthfashion

            check_synthfashion(self.dataset)
        self._sample_batch: torch.Tensor | None = None

    # ------------------------------------------------------------------ engine contract
    def optimizer_settings(self):
        d_params = [p for k, n in self.nets.items() if k.startswith("D_") for p in n.parameters()]
        return {"G": (self.nets["G"].parameters(), self.cfg.optim.G), "D": (d_params, self.cfg.optim.D)}

    def train_dataset(self):
        return self.dataset

    def ema_nets(self) -> list[str]:
        return ["G"]

    def ema_due(self, step: int) -> bool:
        """The EMA of G moves after each generator step (every ``n_critic`` iterations), not every iteration."""
        return (step + 1) % self.cfg.n_critic == 0

    def state_dict(self) -> dict[str, Any]:
        return {"references": self.references.state_dict()} if self.references else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.references and "references" in state:
            self.references.load_state_dict(state["references"])

    # ------------------------------------------------------------------ pieces
    def _inputs(self, ctx: StepContext):
        """(x, labels, targets, changed) of a fresh batch (flipped at random, targets drawn)."""
        return self._inputs_with_index(ctx)[:4]

    def _inputs_with_index(self, ctx: StepContext):
        """As :meth:`_inputs`, plus the dataset indices (B,) and the flips (B,) bool of the batch."""
        batch = ctx.next_batch()
        x, labels = batch["image"], batch["attributes"]
        flip = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        if self.cfg.flip:
            flip = (torch.rand(x.shape[0]) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if self.cfg.targets == "permuted":
            targets, changed = self.space.permuted_targets(labels)
        else:
            targets, changed = self.space.random_targets(labels)
        return x, labels, targets, changed, torch.as_tensor(batch["index"]), flip

    def _generate(self, G: nn.Module, x, targets, changed, labels=None) -> Generated:
        """x*, its edit mask and G's own mask (see :class:`Generated`) for the target code; with
        ``cam_as_mask`` the CAM is the edit mask (``labels``: the source values, for ``cam_target`` source or
        union). ``G``: the generator, its EMA copy or its DDP wrapper (the mask convention is the task's)."""
        net = self.nets["G"]  # the conventions (G may be wrapped)
        code = self.space.code(targets, changed)
        own = net.own_mask(self._cams(x, targets, changed, labels)) if self.cfg.model.cam_as_mask else None
        out, own = G(x, code, own)
        return Generated(out, None if own is None else net.edit_mask(own), own)

    @torch.no_grad()
    def _cams(self, x, targets, changed, labels):
        """The attention target (``model.cam_target``); without source labels, the target value's CAM."""
        clf = self.frozen["classifier"]
        rows = torch.arange(len(x), device=x.device)
        mode = self.cfg.model.cam_target if labels is not None else "target"
        if mode == "contrast":
            return contrast_cams(clf, x, changed, labels[rows, changed], targets[rows, changed])
        maps = []
        if mode in ("target", "union"):
            maps.append(target_cams(clf, x, changed, targets[rows, changed]))
        if mode in ("source", "union"):
            maps.append(target_cams(clf, x, changed, labels[rows, changed]))
        return maps[0] if len(maps) == 1 else torch.maximum(*maps)

    def _critic(self, name: str, real, read_real, fake, labels, boxes, ctx: StepContext, with_gp: bool):
        """WGAN-GP + classification loss of critic ``name`` (D_I: whole image; D_C: the crop). ``read_real``:
        what its attribute head reads of ``real`` (:meth:`_for_classification`, computed once per step)."""
        D = self.ddp[name]
        if name == "D_C":
            real, fake = crop_and_resize(real, boxes, self.crop_size), crop_and_resize(fake, boxes, self.crop_size)
            read_real = crop_and_resize(read_real, boxes, self.crop_size) if self.cfg.loss.cls_blur else real
        src_real, cls_real = D(real)
        if self.cfg.loss.cls_blur:  # the attribute head reads the blurred image (one more forward)
            _, cls_real = D(read_real)
        src_fake, _ = D(fake)
        adv, s = wgan_critic_loss(src_real, src_fake)
        cls, s_cls = attribute_cross_entropy(
            cls_real, labels, self.space.sizes, "cls_real", self.cfg.loss.cls_reduction
        )
        loss = adv + self.cfg.loss.cls * cls
        s.update(s_cls)
        if with_gp:
            with ctx.autocast(self.cfg.gp_precision):
                gp, s_gp = gradient_penalty(lambda z: D(z)[0], real.float(), fake.float())
            loss = loss + self.cfg.loss.gp * self.cfg.gp_every * gp
            s.update(s_gp)
        return loss, {f"{name}/{k}": v for k, v in s.items()}

    def train_step(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg, critics = self.cfg, [k for k in self.nets if k.startswith("D_")]
        # ---- critics, every iteration
        x, labels, targets, changed = self._inputs(ctx)
        with torch.no_grad(), ctx.autocast():
            fake, edit, _ = self._generate(self.nets["G"], x, targets, changed, labels)
        fake = fake.float()
        boxes = mask_boxes(edit, cfg.model.crop_threshold) if "D_C" in self.nets else None
        for k in critics:
            self.nets[k].requires_grad_(True)
        with_gp = ctx.step % cfg.gp_every == 0
        d_loss, scalars = 0.0, {}
        with ctx.autocast():
            read_x = self._for_classification(x)  # once for every critic
            for k in critics:
                loss, s = self._critic(k, x, read_x, fake, labels, boxes, ctx, with_gp)
                d_loss = d_loss + loss
                scalars.update(s)
        self.optimizers["D"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["D"].step()
        scalars["d_loss"] = d_loss.detach()
        if (ctx.step + 1) % cfg.n_critic == 0:
            scalars.update(self._generator_step(ctx, critics))
        return scalars

    def _generator_step(self, ctx: StepContext, critics: list[str]) -> dict[str, torch.Tensor]:
        cfg, w = self.cfg, self.cfg.loss
        for k in critics:  # the critics only judge here: no gradients for them, no DDP sync
            self.nets[k].requires_grad_(False)
        x, labels, targets, changed, index, flip = self._inputs_with_index(ctx)
        scalars: dict[str, torch.Tensor] = {}
        with ctx.autocast():
            fake, edit, own = self._generate(self.ddp["G"], x, targets, changed, labels)
            g_loss = 0.0
            read_fake = self._for_classification(fake)
            for k in critics:
                img, read = fake, read_fake
                if k == "D_C":
                    boxes = mask_boxes(edit.detach(), cfg.model.crop_threshold)
                    img = crop_and_resize(fake, boxes, self.crop_size)
                    read = crop_and_resize(read_fake, boxes, self.crop_size) if w.cls_blur else img
                src, cls = self.nets[k](img)
                if w.cls_blur:
                    _, cls = self.nets[k](read)
                adv, _ = wgan_generator_loss(src)
                cls_loss, s_cls = attribute_cross_entropy(
                    cls, targets, self.space.sizes, f"{k}/cls_fake", w.cls_reduction
                )
                g_loss = g_loss + adv + w.cls * cls_loss
                scalars.update({f"{k}/g_adv": adv.detach(), **s_cls})
            rec = self._generate(self.ddp["G"], fake, labels, changed, targets)
            l_rec, s = l1_loss(rec.image, x, "rec")
            g_loss = g_loss + w.rec * l_rec
            scalars.update(s)
            if w.identity:  # SaGAN: the source code must give the input back
                same = self._generate(self.ddp["G"], x, labels, changed, labels)
                l_id, s = l1_loss(same.image, x, "identity")
                g_loss = g_loss + w.identity * l_id
                scalars.update(s)
            if own is not None:
                g_loss = g_loss + self._mask_terms(own, rec.own, scalars)
            if w.attention and not cfg.model.cam_as_mask:
                cam = self._cams(x, targets, changed, labels)
                l_att, s = l1_loss(edit, cam, "attention")
                g_loss = g_loss + w.attention * l_att
                scalars.update(s)
            if w.change_tv:
                l_tv, s = change_total_variation(fake, x)
                g_loss = g_loss + w.change_tv * l_tv
                scalars.update(s)
            if w.paired:
                from .paired import exact_targets

                truth = exact_targets(self.dataset, index, targets, flip)
                l_pair, s = l1_loss(fake, truth, "paired")
                g_loss = g_loss + w.paired * l_pair
                scalars.update(s)
            if w.perceptual or w.frozen_cls:  # one pass of the frozen classifier over x* serves both
                clf = self.frozen["classifier"]
                conv5 = clf.features(clf.preprocess.fit_batch(read_fake), "conv5")
            if w.perceptual:
                l_p, s = self._perceptual(conv5, targets)
                g_loss = g_loss + w.perceptual * l_p
                scalars.update(s)
            if w.frozen_cls:
                l_f, s = self._frozen_classification(conv5, targets)
                g_loss = g_loss + w.frozen_cls * l_f
                scalars.update(s)
        self.optimizers["G"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["G"].step()
        scalars["g_loss"] = g_loss.detach()
        return scalars

    def _mask_terms(self, own: torch.Tensor, own_cycle: torch.Tensor, scalars: dict) -> torch.Tensor | float:
        """GANimation's mask regularisers on G's own forward and cycle masks (``loss.mask_l1``: their means,
        ``loss.mask_smooth``: their summed total variations; none when the CAM is the mask), and the
        statistics ``mask_mean``, ``mask_mean_cyc`` and ``mask_collapse`` (added to ``scalars``)."""
        w = self.cfg.loss
        m_fwd, s = mask_mean(own, "mask_mean")
        scalars.update(s)
        m_cyc, s = mask_mean(own_cycle, "mask_mean_cyc")
        scalars.update(s)
        scalars["mask_collapse"] = mask_collapse(m_fwd)
        if self.cfg.model.cam_as_mask:
            return 0.0
        loss = w.mask_l1 * (m_fwd + m_cyc) if w.mask_l1 else 0.0
        if w.mask_smooth:
            tv_fwd, s = mask_total_variation(own, "mask_tv")
            scalars.update(s)
            tv_cyc, s = mask_total_variation(own_cycle, "mask_tv_cyc")
            scalars.update(s)
            loss = loss + w.mask_smooth * (tv_fwd + tv_cyc)
        return loss

    def _perceptual(self, fake_conv5, targets):
        """L1 between the frozen classifier's conv5 features of x* (given) and of a real reference image
        with exactly the target attributes."""
        clf = self.frozen["classifier"]
        idx = self.references.draw(targets)
        ref = torch.stack([self.dataset[int(i)]["image"] for i in idx]).to(fake_conv5.device)
        with torch.no_grad():
            want = clf.features(clf.preprocess.fit_batch(self._for_classification(ref)), "conv5")
        loss, s = l1_loss(fake_conv5, want, "perceptual")
        s["ref_fallback"] = torch.tensor(self.references.fallback_share())
        return loss, s

    def _for_classification(self, images: torch.Tensor) -> torch.Tensor:
        """What a classification loss reads: ``images`` blurred by ``loss.cls_blur`` (themselves when 0)."""
        return gaussian_blur(images, self.cfg.loss.cls_blur)

    def _frozen_classification(self, fake_conv5, targets):
        """The frozen classifier's cross-entropy of x* (its conv5 features given) toward the targets."""
        logits = self.frozen["classifier"].classifier_logits(fake_conv5)
        return attribute_cross_entropy(logits, targets, self.space.sizes, "frozen_cls", self.cfg.loss.cls_reduction)

    # ------------------------------------------------------------------ samples and export
    @torch.no_grad()
    def sample(self, step: int, run_dir: Path, logger, nets: dict[str, nn.Module]) -> None:
        """A grid: rows are validation images; columns the input, then each attribute set to the next value
        (and, for attention models, the same rows with each edit mask (1 = edited) as an overlay, framed in
        red where that image's mask collapsed: mean outside [0.02, 0.98])."""
        from ...data.loader import FashionDataset

        G = nets["G"]
        dev = next(G.parameters()).device
        if self._sample_batch is None:
            split = "val" if "val" in self.dataset.schema.splits else "train"
            ds = FashionDataset(self.cfg.data, split=split, size=self.preprocess.size, resize=self.cfg.resize)
            n = min(self.cfg.sample_images, len(ds)) or min(self.cfg.sample_images, len(self.dataset))
            ds = ds if len(ds) else self.dataset
            items = [ds[i] for i in range(n)]
            self._sample_batch = (
                torch.stack([it["image"] for it in items]),
                torch.stack([it["attributes"] for it in items]),
            )
        x, labels = (t.to(dev) for t in self._sample_batch)
        inputs = denormalise(x)
        columns, mask_columns = [inputs], [inputs]
        for a, (_, values) in enumerate(self.space.attributes):
            targets = labels.clone()
            targets[:, a] = (labels[:, a].clamp_min(0) + 1) % len(values)
            out, edit, _ = self._generate(G, x, targets, torch.full((len(x),), a, dtype=torch.long, device=dev), labels)
            columns.append(denormalise(out))
            if edit is not None:
                collapsed = mask_collapse(edit.float().flatten(1).mean(1)).tolist()
                tiles = [overlay(img, m[0].float().cpu().numpy()) for img, m in zip(inputs, edit, strict=True)]
                mask_columns.append([_framed(t) if c else t for t, c in zip(tiles, collapsed, strict=True)])
        rows = [[c[i] for c in columns] for i in range(len(x))]
        if len(mask_columns) > 1:  # then the same rows with each edit's attention mask over the input
            rows += [[c[i] for c in mask_columns] for i in range(len(x))]
        grid = image_grid(rows)
        out_dir = run_dir / "samples"
        out_dir.mkdir(exist_ok=True)
        Image.fromarray(grid).save(out_dir / f"edits-step-{step:07d}.png")
        logger.image("edits", step, grid)

    def export(self, out_dir: Path, nets: dict[str, nn.Module]) -> Path:
        export_nets = {"G": nets["G"]}
        extra: dict[str, Any] = {"attributes": [[n, v] for n, v in self.space.attributes]}
        if "classifier" in self.frozen:
            clf = self.frozen["classifier"]
            source = self.frozen_sources.get("classifier") or {}
            asset = shipped_asset_name(source.get("path"))
            if asset is None:  # a user's network: its weights travel with the export
                export_nets["classifier"] = clf
            extra["classifier"] = {
                "asset": asset,  # a shipped network is referenced (and its tensor hash checked), not copied
                "config": to_dict(clf.cfg),
                "attributes": [[n, v] for n, v in clf.attributes],
                "region_attributes": [[n, v] for n, v in clf.region_attributes],
                "preprocess": clf.preprocess.to_dict(),
                "source": self.frozen_sources.get("classifier"),
            }
        return save_export(
            out_dir,
            kind=self.name,
            nets=export_nets,
            config=to_dict(self.cfg.model),
            preprocess=self.preprocess,
            extra=extra,
        )
