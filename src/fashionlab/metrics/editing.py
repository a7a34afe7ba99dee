"""Evaluation of attribute editors, with the papers' protocols and, on SynthFashion, exact ground truth.

The edits: for each of the first ``limit`` images of a split and each attribute whose value is known, one
edit to another value drawn with a fixed seed (so every method is scored on the same edits). The
editor is given the images' true attributes (the code needs them); *independent evaluators* (attribute
networks never used to train any editor, trained on other renders with other seeds; one of them may be of
another architecture family, see :mod:`.evaluators`) read the results, each giving its own manipulation,
preservation and success (the first one also gives retrieval and FID-like):

- manipulation accuracy per attribute (AMGAN Table 1): the evaluator reads the target value on x*;
- preservation: share of the *other* attributes the evaluator reads on x* as it reads them on x;
- edit success: the target read and every other attribute read unchanged (either of the first two alone
  can be gamed: an untrained generator's noise scores some "manipulation accuracy");
- top-k retrieval (AMGAN's protocol): x*'s evaluator embedding queries a FAISS index of real images (the
  ``gallery_split``, default train: many attribute combinations exist only there); a hit when one of the
  top k has all the attributes x* should have; k = 1..30 (the ground-truth row shows the ceiling: targets
  the gallery lacks cannot be hits);
- FID-like: the Frechet distance between the evaluator's pooled features of real images and of edits
  (our own feature space: not comparable with Inception FID).

On SynthFashion, against the exact target ``render(seed, edited attributes, pose)`` (at the model's size):
L1 and PSNR, SSIM (scikit-image's, see :mod:`.ssim`) on the whole image and outside the attribute's exact
edit region, the edit gain (:mod:`.edit_gain`: inside the region, is the output closer to the truth than
the input? the error outside it), the attention mask's IoU with the edit region (mask > 0.5), and all of it
again for the edits whose target combination was held out of training (``data synth --holdout``).

A *method* is a callable ``(x, labels, targets, changed, indices) -> (x*, mask or None)``; :func:`editor_method`
wraps a loaded editor, :func:`identity_method` and :func:`ground_truth_method` give the table's floor and
ceiling rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.imaging import Preprocess, denormalise, normalise, resize_mask, resize_rgb
from ..data.loader import FashionDataset
from ..errors import InputError
from ..parallel import imap
from .edit_gain import edit_gain
from .ssim import ssim

Method = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]
TOPK = (1, 5, 10, 20, 30)


def editor_method(editor) -> Method:
    """A loaded editor (``fashionlab.load``) as a method."""

    @torch.no_grad()
    def run(x, labels, targets, changed, indices):
        del labels, indices
        return editor.generate(x, targets, changed)

    return run


def identity_method(x, labels, targets, changed, indices):
    """Output = input: the floor of manipulation, the ceiling of preservation."""
    return x, None


def _render_target(job):
    from ..synth.ground_truth import edit_region, item_render_args
    from ..synth.render import render

    item, attribute, value, native, size, mode = job
    args = item_render_args(item)
    target = {**args["attributes"], attribute: value}
    kw = dict(size=native, framing=args["framing"], regions=args["regions"])
    image = render(args["seed"], target, args["pose"], **kw).image
    region = edit_region(args["seed"], args["attributes"], attribute, args["pose"], **kw)
    return resize_rgb(image, size, mode), resize_mask(region.astype(np.uint8), size, mode).astype(bool)


def ground_truth_method(targets_uint8: np.ndarray) -> Method:
    """The exact re-renders as a method (the ceiling row); ``targets_uint8`` (n_edits, H, W, 3)."""

    def run(x, labels, targets, changed, indices):
        return normalise(targets_uint8[indices.numpy()]).to(x.device), None

    return run


@dataclass
class EditReport:
    """Per-attribute figures and their means; ``gt`` and ``unseen`` only on SynthFashion. The top-level
    manipulation, preservation, success and evaluator accuracy are the first evaluator's; ``by_evaluator``
    holds them for every evaluator (``{name: {"family", "manipulation", "preservation", "success",
    "evaluator_accuracy"}}``)."""

    name: str
    n_edits: int
    manipulation: dict[str, float] = field(default_factory=dict)
    preservation: dict[str, float] = field(default_factory=dict)
    success: dict[str, float] = field(default_factory=dict)
    retrieval: dict[int, float] = field(default_factory=dict)
    fid_like: float = float("nan")
    gt: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> {attribute: value, "mean": ...}
    attention_iou: dict[str, float] = field(default_factory=dict)
    unseen: dict[str, Any] = field(default_factory=dict)
    evaluator_accuracy: dict[str, float] = field(default_factory=dict)
    by_evaluator: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EditPlan:
    """The edits of one evaluation (the same for every method): dataset rows, attribute, value."""

    rows: np.ndarray
    attributes: np.ndarray
    values: np.ndarray


def ground_truth_scores(outs: np.ndarray, targets: np.ndarray, regions: np.ndarray) -> dict[str, np.ndarray]:
    """Per image, against the exact targets (all (n, H, W, 3) uint8; ``regions`` (n, H, W) bool, where the
    edit may change pixels): L1 in [0, 1], PSNR (dB), SSIM (scikit-image's) and SSIM outside the region."""
    diff = np.abs(outs.astype(np.float64) - targets.astype(np.float64))
    mse = (diff**2).mean((1, 2, 3))
    return {
        "l1": diff.mean((1, 2, 3)) / 255.0,
        "psnr": 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10)),
        "ssim": ssim(outs, targets, data_range=255),
        "ssim_outside": ssim(outs, targets, data_range=255, mask=~regions),
    }


def mask_iou(masks: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Per image, the IoU of ``masks`` (n, H, W) above 0.5 with the bool ``regions``."""
    m = masks > 0.5
    return (m & regions).sum((1, 2)) / np.maximum((m | regions).sum((1, 2)), 1)


def plan_edits(labels: np.ndarray, sizes: list[int], seed: int = 0) -> EditPlan:
    """One edit per (image, known attribute), to another value drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    rows, attrs, values = [], [], []
    for i, row in enumerate(labels):
        for a, v in enumerate(row):
            if v < 0 or sizes[a] < 2:
                continue
            new = int(rng.integers(sizes[a] - 1))
            rows.append(i)
            attrs.append(a)
            values.append(new + (new >= v))
    return EditPlan(np.asarray(rows), np.asarray(attrs), np.asarray(values))


def plan_contrast_edits(labels: np.ndarray, attribute: int, a: int, b: int) -> EditPlan:
    """The edits of a two-value editor (ResGAN): every image whose ``attribute`` is value ``a`` or ``b``,
    edited to the other one; no other edit."""
    rows = np.flatnonzero((labels[:, attribute] == a) | (labels[:, attribute] == b))
    values = np.where(labels[rows, attribute] == a, b, a)
    return EditPlan(rows, np.full(len(rows), attribute), values)


def _evaluator_outputs(evaluator, x: torch.Tensor):
    """(per-attribute predictions (B, M), global embeddings (B, D), pooled features (B, C)) of the evaluator."""
    with torch.no_grad():
        out = evaluator(evaluator.preprocess.fit_batch(x))
    preds = torch.stack([lg.argmax(1) for lg in out.rep_logits], 1)
    return preds.cpu(), out.global_rep.float().cpu(), out.pooled.float().cpu()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (n, d)."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # few samples: singular covariances; offset them as pytorch-fid does
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            eye = np.eye(len(s1)) * 1e-6
            covmean = linalg.sqrtm((s1 + eye) @ (s2 + eye))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _contrast_plan(ds: FashionDataset, n: int, contrast: tuple[str, str, str], split: str) -> EditPlan:
    """:func:`plan_contrast_edits` of the first ``n`` images of ``ds`` for ``contrast`` given by names."""
    name, a, b = contrast
    if name not in ds.attribute_names:
        raise InputError(f"no attribute {name!r}; this dataset has {ds.attribute_names}", field="contrast")
    spec = ds.specs[ds.attribute_names.index(name)]
    for v in (a, b):
        if v not in spec.values:
            raise InputError(f"{name} has no value {v!r}; its values: {', '.join(spec.values)}", field="contrast")
    plan = plan_contrast_edits(ds.labels[:n], ds.attribute_names.index(name), *map(spec.values.index, (a, b)))
    if len(plan.rows) == 0:
        raise InputError(f"none of the {n} {split!r} images has {name} {a} or {b}", field="contrast")
    return plan


class EditEvaluation:
    """Everything shared by the methods compared on one dataset: the edits, the images, the evaluators'
    readings and the first evaluator's index of the real images, and (SynthFashion) the exact targets and
    edit regions. ``evaluator``: one attribute network or ``{name: network}`` (the first is the primary:
    retrieval, FID-like and the top-level figures). ``contrast``: ``(attribute, a, b)`` restricts the edits
    to that attribute between values a and b (:func:`plan_contrast_edits`), for two-value editors."""

    def __init__(
        self,
        data: str,
        evaluator,
        preprocess: Preprocess,
        *,
        split: str = "test",
        limit: int = 400,
        seed: int = 0,
        batch_size: int = 64,
        ground_truth: bool | None = None,
        gallery_split: str = "train",
        gallery_limit: int = 20000,
        workers: int = 1,
        progress: bool = True,
        contrast: tuple[str, str, str] | None = None,
    ):
        from ..synth.ground_truth import is_synthfashion
        from .evaluators import architecture_family

        self.evaluators = dict(evaluator) if isinstance(evaluator, dict) else {"evaluator": evaluator}
        if not self.evaluators:
            raise InputError("no evaluator given", field="evaluator")
        self.evaluator = next(iter(self.evaluators.values()))
        self.families = {k: architecture_family(e) for k, e in self.evaluators.items()}
        self.preprocess, self.batch_size, self.progress = preprocess, batch_size, progress
        ds = FashionDataset(data, split=split, size=preprocess.size, resize=preprocess.resize, progress=progress)
        for name, e in self.evaluators.items():
            if [n for n, _ in e.attributes] != ds.attribute_names:
                raise InputError(
                    f"the evaluator {name} knows {[n for n, _ in e.attributes]}, the dataset {ds.attribute_names}",
                    path=data,
                )
        n = min(limit, len(ds))
        if n == 0:
            raise InputError(f"the {split!r} split is empty", path=data)
        self.ds, self.names = ds, ds.attribute_names
        self.sizes = [len(s.values) for s in ds.specs]
        self.images = torch.stack([ds[i]["image"] for i in range(n)])
        self.labels = torch.from_numpy(ds.labels[:n].copy())
        if contrast is None:
            self.plan = plan_edits(ds.labels[:n], self.sizes, seed)
        else:  # (attribute, value a, value b): only edits between a and b (ResGAN)
            self.plan = _contrast_plan(ds, n, contrast, split)
        # the evaluator on the real images: its readings (the preservation reference) and its accuracy (the
        # ceiling of manipulation accuracy); then the retrieval gallery and the real features of FID-like
        self.src_preds_by = {
            k: torch.cat([_evaluator_outputs(e, self.images[i : i + batch_size])[0] for i in range(0, n, batch_size)])
            for k, e in self.evaluators.items()
        }
        self.src_preds = next(iter(self.src_preds_by.values()))
        gallery_ds = ds
        if gallery_split != split:
            gallery_ds = FashionDataset(
                data, split=gallery_split, size=preprocess.size, resize=preprocess.resize, progress=progress
            )
        m = min(gallery_limit, len(gallery_ds))
        if m == 0:
            raise InputError(
                f"the retrieval gallery (split {gallery_split!r}) is empty", path=data, field="gallery_split"
            )
        reads = [
            self._read(torch.stack([gallery_ds[j]["image"] for j in range(i, min(i + batch_size, m))]))
            for i in tqdm(range(0, m, batch_size), desc="gallery", disable=not progress)
        ]
        self.gallery, self.real_pooled = torch.cat([r[1] for r in reads]), torch.cat([r[2] for r in reads])
        self.gallery_labels = torch.from_numpy(gallery_ds.labels[:m].copy())
        known = self.labels >= 0
        self.evaluator_accuracy_by = {
            k: {
                name: float((preds[known[:, a], a] == self.labels[known[:, a], a]).float().mean())
                for a, name in enumerate(self.names)
            }
            for k, preds in self.src_preds_by.items()
        }
        self.evaluator_accuracy = next(iter(self.evaluator_accuracy_by.values()))
        import faiss

        self.index = faiss.IndexFlatIP(self.gallery.shape[1])
        self.index.add(np.ascontiguousarray(self.gallery.numpy(), np.float32))
        synth = is_synthfashion(ds.schema, ds.items[:n])
        if ground_truth and not synth:
            raise InputError("ground-truth metrics need a SynthFashion dataset", path=data, field="ground_truth")
        self.ground_truth = synth if ground_truth is None else ground_truth
        self.targets_uint8 = self.regions = self.inputs_uint8 = None
        self.unseen = np.zeros(len(self.plan.rows), bool)
        if self.ground_truth:
            native = tuple(ds.schema.image_size)
            jobs = (
                (ds.items[r], self.names[a], ds.specs[a].values[v], native, preprocess.size, preprocess.resize)
                for r, a, v in zip(self.plan.rows, self.plan.attributes, self.plan.values, strict=True)
            )
            done = list(
                tqdm(
                    imap(_render_target, jobs, workers, 16),
                    total=len(self.plan.rows),
                    desc="ground truth",
                    disable=not progress,
                )
            )
            self.targets_uint8 = np.stack([d[0] for d in done])
            self.inputs_uint8 = np.concatenate(
                [
                    denormalise(self.images[torch.from_numpy(self.plan.rows[i : i + batch_size])])
                    for i in range(0, len(self.plan.rows), batch_size)
                ]
            )
            self.regions = np.stack([d[1] for d in done])
            # the region at the model's size: where the edit may change pixels, including the pixels a resize
            # blends across its border (there the input already differs from the truth)
            self.regions = self.regions | (self.inputs_uint8 != self.targets_uint8).any(-1)
            holdout = ds.schema.source.get("config", {}).get("holdout", [])
            for k, (r, a, v) in enumerate(zip(self.plan.rows, self.plan.attributes, self.plan.values, strict=True)):
                attrs = {**ds.items[r].attributes, self.names[a]: ds.specs[a].values[v]}
                self.unseen[k] = any(all(attrs.get(key) == val for key, val in c.items()) for c in holdout)

    def _read(self, x: torch.Tensor):
        return _evaluator_outputs(self.evaluator, x)

    def _scores(self, preds_t: torch.Tensor, src: torch.Tensor):
        """(hit, kept share, success) per edit for one evaluator's readings of the outputs and sources."""
        p = self.plan
        n_edits = len(p.rows)
        attrs_t, vals_t = torch.from_numpy(p.attributes), torch.from_numpy(p.values)
        hit = preds_t[torch.arange(n_edits), attrs_t] == vals_t
        other = torch.ones_like(src, dtype=torch.bool)
        other[torch.arange(n_edits), attrs_t] = False
        same = (preds_t == src) | ~other
        kept = ((preds_t == src) & other).sum(1).float() / other.sum(1).clamp_min(1)
        return hit, kept, hit & same.all(1)

    def _per_attribute(self, hit, kept, success) -> tuple[dict, dict, dict]:
        attrs_t = torch.from_numpy(self.plan.attributes)
        manipulation, preservation, succ = {}, {}, {}
        for a, name_a in enumerate(self.names):
            sel = attrs_t == a
            if sel.any():
                manipulation[name_a] = float(hit[sel].float().mean())
                preservation[name_a] = float(kept[sel].mean())
                succ[name_a] = float(success[sel].float().mean())
        for d in (manipulation, preservation, succ):
            d["mean"] = float(np.mean(list(d.values())))
        return manipulation, preservation, succ

    def run(self, method: Method, name: str) -> tuple[EditReport, np.ndarray, np.ndarray | None]:
        """Score one method; returns (report, its edited images (n_edits, H, W, 3) uint8, masks or None)."""
        p = self.plan
        n_edits = len(p.rows)
        preds: dict[str, list[torch.Tensor]] = {k: [] for k in self.evaluators}
        embeds, pooled, outs, masks = [], [], [], []
        for s in tqdm(range(0, n_edits, self.batch_size), desc=name, disable=not self.progress):
            sl = slice(s, s + self.batch_size)
            rows = torch.from_numpy(p.rows[sl])
            x, labels = self.images[rows], self.labels[rows]
            changed = torch.from_numpy(p.attributes[sl])
            targets = labels.clone()
            targets[torch.arange(len(rows)), changed] = torch.from_numpy(p.values[sl])
            out, mask = method(x, labels, targets, changed, torch.arange(s, s + len(rows)))
            out = out.float().clamp(-1, 1)
            for k, e in self.evaluators.items():
                pr, em, po = _evaluator_outputs(e, out)
                preds[k].append(pr)
                if e is self.evaluator:
                    primary = (em, po)
            em, po = primary
            embeds.append(em)
            pooled.append(po)
            outs.append(denormalise(out))
            if mask is not None:
                masks.append(mask.float().cpu()[:, 0].numpy())
        outs_np = np.concatenate(outs)
        masks_np = np.concatenate(masks) if masks else None
        report = EditReport(name=name, n_edits=n_edits, evaluator_accuracy=self.evaluator_accuracy)
        rows_t, attrs_t, vals_t = (torch.from_numpy(v) for v in (p.rows, p.attributes, p.values))
        scores = {k: self._scores(torch.cat(preds[k]), self.src_preds_by[k][rows_t]) for k in self.evaluators}
        for k, (h, kp, sc) in scores.items():
            man, pres, succ = self._per_attribute(h, kp, sc)
            report.by_evaluator[k] = {
                "family": self.families[k],
                "manipulation": man,
                "preservation": pres,
                "success": succ,
                "evaluator_accuracy": self.evaluator_accuracy_by[k],
            }
        hit, kept, success = next(iter(scores.values()))
        # retrieval: the query should have the source's true attributes with the target value
        want = self.labels[rows_t].clone()
        want[torch.arange(n_edits), attrs_t] = vals_t
        _, top = self.index.search(np.ascontiguousarray(torch.cat(embeds).numpy(), np.float32), max(TOPK))
        match = (self.gallery_labels[torch.from_numpy(top)] == want[:, None, :]) | (want[:, None, :] < 0)
        match = match.all(-1).numpy()
        report.retrieval = {k: float(match[:, :k].any(1).mean()) for k in TOPK}
        report.fid_like = frechet_distance(self.real_pooled.numpy(), torch.cat(pooled).numpy())
        report.manipulation, report.preservation, report.success = self._per_attribute(hit, kept, success)
        if self.ground_truth:
            report.gt, report.attention_iou = self._gt_metrics(outs_np, masks_np, np.ones(n_edits, bool))
            if self.unseen.any():
                gt, iou = self._gt_metrics(outs_np, masks_np, self.unseen)
                report.unseen = {
                    "n_edits": int(self.unseen.sum()),
                    "manipulation": float(hit[torch.from_numpy(self.unseen)].float().mean()),
                    "success": float(success[torch.from_numpy(self.unseen)].float().mean()),
                    "gt": gt,
                    "attention_iou": iou,
                }
        return report, outs_np, masks_np

    def _gt_metrics(self, outs: np.ndarray, masks: np.ndarray | None, sel: np.ndarray):
        r = self.regions[sel]
        attrs = self.plan.attributes[sel]
        per = ground_truth_scores(outs[sel], self.targets_uint8[sel], r)
        per.update(edit_gain(self.inputs_uint8[sel], outs[sel], self.targets_uint8[sel], r))
        gt: dict[str, dict[str, float]] = {}
        for metric, values in per.items():
            gt[metric] = {
                name: float(np.nanmean(values[attrs == a])) for a, name in enumerate(self.names) if (attrs == a).any()
            }
            gt[metric]["mean"] = float(np.nanmean(values))
        iou: dict[str, float] = {}
        if masks is not None:
            v = mask_iou(masks[sel], r)
            iou = {name: float(v[attrs == a].mean()) for a, name in enumerate(self.names) if (attrs == a).any()}
            iou["mean"] = float(v.mean())
        return gt, iou
