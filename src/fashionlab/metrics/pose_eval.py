"""``fashionlab eval pose``: re-posing models scored with the pose papers' protocol on a dataset's test pairs.

For each test pair (source image, source pose, target pose; the target image is the reference, and on
SynthFashion it is the exact ground truth of the re-posing) every method makes an image, scored by:

- ``ssim``: SSIM to the target image exactly as the official ``getMetrics_*.py`` (:func:`.pose.pose_ssim`);
- ``mask_ssim``: the same within the target pose's person mask (:func:`.pose.mask_ssim`, Market's);
- ``l1``: mean absolute error in [0, 1] units (half the official ``l1_score``, which works in [-1, 1]);
- ``pckh``: the keypoint estimator run on the generated image against the target pose (:func:`.pose.pckh`);
- ``fid_like``: the Frechet distance between the evaluator's pooled conv features of the generated images
  and of the real target images (an IS / FID stand-in in our own feature space, named so);
- ``preservation``: the share of garment attributes the independent attribute evaluator reads on the
  result as it reads them on the source image (per attribute and their mean): copying the source scores
  100%, so it is kept as a second column beside ``preservation_true``: the share the evaluator reads as the
  person's **true** labels (the dataset's), whose ceiling is the ground truth row's;
- ``pckh_joints``: PCKh per keypoint and ``arms`` (elbows + wrists), :func:`.pose_detail.pckh_per_joint`;
- ``ghost`` / ``missing_body``: L1 to the target on the pixels that are person in the source but background in
  the target, and the reverse (:func:`.pose_detail.silhouette_l1`; datasets with person masks, SynthFashion);
- ``head_l1`` / ``head_ssim``: L1 and SSIM in the target's head box (:func:`.pose_detail.head_scores`).

Two reference rows come with every table: ``identity`` (output = source image: how far the pairs' poses are
apart; what a model must beat) and ``ground truth`` (output = target image: the keypoint estimator's own PCKh,
the ceiling of every model's, and the evaluator's self-agreement). The pairs are a fixed, seeded sample of
the split's pairs; their keypoint displacement (in head sizes) is reported with the table.

The keypoint estimator must not share the scored models' world (a scorer trained on the generators' very
people can be flattered by what they learned from them): :func:`scorer_note` says in the caption which
estimator scored PCKh and whether it was trained on any scored model's data, from their exports' provenance.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.imaging import denormalise
from ..data.loader import collate
from ..data.pairs import PosePairDataset, pair_displacement
from ..errors import InputError
from .editing import _evaluator_outputs, frechet_distance
from .pose import l1, mask_ssim, pckh, pose_mask, pose_ssim
from .pose_detail import head_scores, pckh_per_joint, silhouette_l1

PERSON_BIT = 1  # bit 0 of SynthFashion's region masks: the person

#: a method: a batch of pose pairs (``PosePairDataset`` items, collated) -> (B, 3, H, W) images in [-1, 1]
PoseMethod = Callable[[dict[str, Any]], torch.Tensor]


def identity_method(batch: dict[str, Any]) -> torch.Tensor:
    """Output = the source image (the pairs' difficulty: the floor a model must beat)."""
    return batch["source_image"]


def ground_truth_method(batch: dict[str, Any]) -> torch.Tensor:
    """Output = the target image (the ceiling: the keypoint estimator's and evaluator's own scores)."""
    return batch["target_image"]


def reposer_method(model, source_pose: str = "annotated") -> PoseMethod:
    """A loaded re-posing model (:class:`~fashionlab.models.reposing.reposer.Reposer`) as a method. The target
    pose is the dataset's; the source pose is the dataset's too with ``source_pose="annotated"`` (as the
    official test scripts feed the annotated poses), or found on the source picture by the keypoint estimator
    the model names with ``"estimated"`` (what ``fashionlab pose`` and the service do with a photograph)."""
    if source_pose not in ("annotated", "estimated"):
        raise InputError(f"unknown source pose {source_pose!r}; valid: annotated, estimated", field="source_pose")
    if source_pose == "annotated":
        return lambda batch: model.generate(batch["source_image"], batch["source_keypoints"], batch["target_keypoints"])

    def run(batch):
        found = model.keypoint_net().predict(batch["source_image"].to(next(model.G.parameters()).device))
        return model.generate(batch["source_image"], found, batch["target_keypoints"])

    return run


@dataclass
class PoseReport:
    """One method's scores (means over the pairs; ``per_pair`` keeps the per-pair arrays)."""

    name: str
    pairs: int
    ssim: float
    mask_ssim: float
    l1: float
    pckh: float
    pckh_counts: dict[str, int]
    fid_like: float
    preservation: dict[str, float] = field(default_factory=dict)
    preservation_true: dict[str, float] = field(default_factory=dict)
    pckh_joints: dict[str, float] = field(default_factory=dict)
    ghost: float = float("nan")
    missing_body: float = float("nan")
    head_l1: float = float("nan")
    head_ssim: float = float("nan")
    per_pair: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "per_pair"}


class PoseEvaluation:
    """Score re-posing methods on ``pairs`` fixed test pairs of ``data`` (see the module docstring).

    ``keypoint_net``: a loaded keypoint estimator (PCKh); ``evaluator``: a loaded attribute network (FID-like
    and preservation; None skips both)."""

    def __init__(
        self,
        data: str,
        size: tuple[int, int],
        keypoint_net,
        evaluator=None,
        split: str = "test",
        pairs: int = 1000,
        batch_size: int = 32,
        seed: int = 0,
        resize: str = "fit",
        progress: bool = True,
    ):
        from ..data.format import load_dataset

        has_masks = load_dataset(data).schema.annotations.masks
        self.dataset = PosePairDataset(
            data, split=split, size=size, resize=resize, progress=progress, with_masks=bool(has_masks)
        )
        n = min(pairs, len(self.dataset)) if pairs > 0 else len(self.dataset)
        self.order = np.sort(np.random.default_rng(seed).permutation(len(self.dataset))[:n])
        self.keypoint_net, self.evaluator = keypoint_net, evaluator
        self.batch_size, self.progress = batch_size, progress
        src = np.stack([self.dataset.keypoints(int(self.dataset.pairs[k, 0])).numpy() for k in self.order])
        tgt = np.stack([self.dataset.keypoints(int(self.dataset.pairs[k, 1])).numpy() for k in self.order])
        self.target_keypoints = tgt
        #: per pair, how far the keypoints move from source to target, in head sizes of the target
        self.displacement = pair_displacement(src, tgt)
        h, w = self.dataset.size
        self.masks = np.stack([pose_mask(k, h, w) for k in tgt])
        self._reference: dict[str, np.ndarray] | None = None

    def batches(self):
        for start in range(0, len(self.order), self.batch_size):
            yield collate([self.dataset[int(k)] for k in self.order[start : start + self.batch_size]])

    def displacement_summary(self) -> dict[str, float]:
        d = self.displacement[np.isfinite(self.displacement)]
        if not len(d):
            return {}
        q = np.percentile(d, [10, 50, 90])
        return {"mean": float(d.mean()), "p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}

    def _attributes(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        dev = next(self.evaluator.parameters()).device
        preds, _, pooled = _evaluator_outputs(self.evaluator, x.to(dev))
        return preds.numpy(), pooled.numpy()

    def _references(self) -> dict[str, np.ndarray]:
        """The evaluator's readings of the source images and its features of the real target images."""
        if self._reference is None:
            readings, features = [], []
            for batch in self.batches():
                readings.append(self._attributes(batch["source_image"])[0])
                features.append(self._attributes(batch["target_image"])[1])
            self._reference = {"source_readings": np.concatenate(readings), "target_features": np.concatenate(features)}
        return self._reference

    @torch.no_grad()
    def run(self, name: str, method: PoseMethod) -> PoseReport:
        """Score one method on the fixed pairs."""
        outs, predictions, readings, features = [], [], [], []
        targets, labels, source_person, target_person = [], [], [], []
        bar = tqdm(total=len(self.order), desc=f"eval pose {name}", unit="pair", disable=not self.progress)
        for batch in self.batches():
            images = method(batch).float().cpu().clamp(-1, 1)
            outs.append(denormalise(images))
            targets.append(denormalise(batch["target_image"]))
            labels.append(batch["attributes"].numpy())
            if "source_mask" in batch:
                source_person.append((batch["source_mask"].numpy() & PERSON_BIT) > 0)
                target_person.append((batch["target_mask"].numpy() & PERSON_BIT) > 0)
            dev = next(self.keypoint_net.parameters()).device
            predictions.append(self.keypoint_net.predict(images.to(dev)).cpu().numpy())
            if self.evaluator is not None:
                r, f = self._attributes(images)
                readings.append(r)
                features.append(f)
            bar.update(len(images))
        bar.close()
        gen, tgt = np.concatenate(outs), np.concatenate(targets)
        ssims = pose_ssim(gen, tgt)
        mssims = mask_ssim(gen, tgt, self.masks)
        l1s = np.array([l1(g, t) for g, t in zip(gen, tgt, strict=True)])
        predicted = np.concatenate(predictions)
        p = pckh(predicted, self.target_keypoints)
        joints = pckh_per_joint(predicted, self.target_keypoints)
        head = head_scores(gen, tgt, self.target_keypoints)
        silhouettes = {}
        if source_person:
            silhouettes = silhouette_l1(gen, tgt, np.concatenate(source_person), np.concatenate(target_person))
        fid, preservation, preservation_true = float("nan"), {}, {}
        if self.evaluator is not None:
            ref = self._references()
            fid = frechet_distance(
                np.concatenate(features).astype(np.float64), ref["target_features"].astype(np.float64)
            )
            kept = np.concatenate(readings) == ref["source_readings"]
            names = [n for n, _ in self.evaluator.attributes]
            preservation = {n: float(kept[:, a].mean()) for a, n in enumerate(names)}
            preservation["mean"] = float(kept.mean())
            preservation_true = self._true_preservation(np.concatenate(readings), np.concatenate(labels))
        return PoseReport(
            name=name,
            pairs=len(gen),
            ssim=float(np.mean(ssims)),
            mask_ssim=float(np.mean(mssims)),
            l1=float(l1s.mean()),
            pckh=float(p["pckh"]),
            pckh_counts={k: int(v) for k, v in p.items() if k != "pckh"},
            fid_like=fid,
            preservation=preservation,
            preservation_true=preservation_true,
            pckh_joints=joints,
            ghost=_nanmean(silhouettes.get("ghost")),
            missing_body=_nanmean(silhouettes.get("missing_body")),
            head_l1=_nanmean(head["head_l1"]),
            head_ssim=_nanmean(head["head_ssim"]),
            per_pair={
                "ssim": ssims.tolist(),
                "mask_ssim": np.asarray(mssims).tolist(),
                "l1": l1s.tolist(),
                **{k: v.tolist() for k, v in silhouettes.items()},
                **{k: v.tolist() for k, v in head.items()},
            },
        )

    def _true_preservation(self, readings: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Per evaluator attribute (and the mean over all readings), the share of pairs whose output the
        evaluator reads as the person's true value (the dataset's label; unknown labels are left out)."""
        names = self.dataset.images.attribute_names
        out, hits, total = {}, 0, 0
        for a, (name, values) in enumerate(self.evaluator.attributes):
            if name not in names:
                continue
            spec = self.dataset.images.specs[names.index(name)]
            truth = labels[:, names.index(name)]
            known = truth >= 0
            mapped = np.array([values.index(v) if v in values else -2 for v in spec.values])
            want = np.where(known, mapped[np.clip(truth, 0, None)], -2)
            ok = (readings[:, a] == want) & known
            out[name] = float(ok.sum() / max(known.sum(), 1))
            hits, total = hits + int(ok.sum()), total + int(known.sum())
        out["mean"] = hits / total if total else float("nan")
        return out


def training_data(path: str | Path) -> dict[str, Any]:
    """The ``provenance.data`` block of the export at ``path`` (``{}`` when it records no data fingerprint) plus
    ``name`` (the dataset's folder name) and ``render_seed`` (a SynthFashion render's seed, from the recorded
    ``data synth`` command or the dataset's ``dataset.json``; None when unknown)."""
    from ..engine.export import CONFIG_FILE, export_dir
    from ..models.registry import model_path
    from ..synth.generate import SynthConfig
    from ..synth.ground_truth import SYNTH_GENERATOR

    try:
        meta = json.loads((export_dir(model_path(path)) / CONFIG_FILE).read_text())
        data = dict((meta.get("provenance") or {}).get("data") or {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}
    if not data.get("sha256"):
        return {}
    words = shlex.split(data.get("command", ""))
    opt = {k: v for k, v in zip(words, words[1:], strict=False) if k.startswith("--")}
    data["name"] = Path(opt.get("--out") or data.get("path") or "?").name
    seed: Any = opt.get("--seed", SynthConfig.seed if words[1:3] == ["data", "synth"] else None)
    if seed is None and data.get("path"):
        try:
            source = json.loads((Path(data["path"]) / "dataset.json").read_text()).get("source") or {}
            seed = source["config"]["seed"] if source.get("generator") == SYNTH_GENERATOR else None
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            seed = None
    data["render_seed"] = int(seed) if seed is not None else None
    return data


def scorer_note(keypoint_model: str, scored: list[tuple[str, str]]) -> str:
    """One sentence for a pose table's caption: which keypoint estimator scored PCKh and whether it was trained
    on the data of any scored model (``(name, path)`` pairs), by the data fingerprints their exports record
    (``provenance.data.sha256``). SynthFashion renders of another render seed share no person (each person
    follows from the dataset's seed and the person's index); the same seed with other settings may."""
    mine = training_data(keypoint_model)
    if not mine:
        return f"PCKh with {keypoint_model}, whose training data is not recorded (shared with the scored models'?)"
    seed = mine["render_seed"]
    text = f"PCKh with {keypoint_model}, trained on {mine['name']} (data {mine['sha256'][:12]}"
    text += f", render seed {seed})" if seed is not None else ")"
    theirs = {name: training_data(path) for name, path in scored}
    known = {name: d for name, d in theirs.items() if d}
    same = [name for name, d in known.items() if d["sha256"] == mine["sha256"]]
    if same:
        text += f": the very data {', '.join(same)} trained on, so it shares their world and may flatter their PCKh"
    elif known:
        seeds = {d["render_seed"] for d in known.values()}
        names = ", ".join(sorted({d["name"] for d in known.values()}))
        if seed is not None and None not in seeds and seed not in seeds:
            listed = ", ".join(str(s) for s in sorted(seeds))
            text += f": people disjoint from the scored models' training data ({names}, render seed {listed})"
        elif seed is not None and seed in seeds:
            text += f": other data than the scored models' ({names}) but the same render seed, so it may share people"
        else:
            text += f": other data than the scored models' ({names})"
    unknown = [name for name, d in theirs.items() if not d]
    if unknown:
        text += f"; training data not recorded for {', '.join(unknown)}"
    return text


def _nanmean(values) -> float:
    if values is None:
        return float("nan")
    v = np.asarray(values, np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None or not np.isfinite(v) else format(v, fmt)


def _pct(d: dict[str, float], key: str = "mean") -> str:
    return _num(100 * d[key], ".1f") + "%" if d and key in d and np.isfinite(d[key]) else "-"


def pose_table(reports: list[PoseReport]) -> str:
    """One markdown table of pose reports (rows: methods): the papers' columns, then the ones that see ghosts,
    arms and faces."""
    head = ["method", "SSIM", "Mask-SSIM", "L1", "PCKh", "PCKh arms", "ghost L1", "missing-body L1", "head L1",
            "head SSIM", "FID-like", "preservation (true labels)", "preservation (source reading)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        row = [r.name, _num(r.ssim, ".4f"), _num(r.mask_ssim, ".4f"), _num(r.l1, ".4f"), _num(r.pckh, ".3f")]
        row += [_num(r.pckh_joints.get("arms"), ".3f"), _num(r.ghost, ".4f"), _num(r.missing_body, ".4f")]
        row += [_num(r.head_l1, ".4f"), _num(r.head_ssim, ".3f"), _num(r.fid_like, ".2f")]
        row += [_pct(r.preservation_true), _pct(r.preservation)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def pose_detail_tables(reports: list[PoseReport]) -> str:
    """Two markdown tables: PCKh per keypoint, and preservation of each attribute against the true labels."""
    if not reports:
        return ""
    joints = [k for k in reports[0].pckh_joints if k != "arms"]
    out = ["| method | " + " | ".join(joints) + " |", "|" + "---|" * (len(joints) + 1)]
    out += [
        "| " + r.name + " | " + " | ".join(_num(r.pckh_joints.get(j), ".2f") for j in joints) + " |" for r in reports
    ]
    names = [k for k in reports[0].preservation_true if k != "mean"]
    if names:
        out += ["", "| method | " + " | ".join(names) + " | mean |", "|" + "---|" * (len(names) + 2)]
        out += ["| " + r.name + " | " + " | ".join(_pct(r.preservation_true, n) for n in [*names, "mean"]) + " |"
                for r in reports]  # fmt: skip
    return "\n".join(out)
