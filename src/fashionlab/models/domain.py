"""Is a picture like what the shipped models were trained on? A measured score and a calibrated threshold.

Every shipped model learnt from SynthFashion renders only, so on a real photograph its output may mean
nothing. :class:`DomainCheck` says so::

    check = load_domain_check()                 # the shipped one (cached); load_domain_check(path) another
    report = check.check(rgb_uint8)             # any size and aspect, (H, W, 3) uint8 (gray / RGBA converted)
    report.score, report.threshold, report.unusual, report.message
    check.check_batch([rgb, ...])               # one report per picture

The score: the picture is fitted as the attribute network ``asset:attrnet-synth128`` fits its input (aspect
kept, padded white), run through its backbone, and the last two conv stages (conv4 and conv5) are
averaged over the picture's own pixels (the padding left out, so a tall picture is judged by its content,
not by the white around it). The score is the Mahalanobis distance of that vector to the nearest of a few
Gaussians, one per framing the shipped models see (64 and 128 px upper-body squares, 128x64 full-body
people in standard and wide poses), each fitted to SynthFashion renders with a Ledoit-Wolf shrunk
covariance (:func:`shrunk_gaussian`). The threshold is the largest 99.8% quantile of the framings'
scores on calibration renders from other seeds; ``bench/calibrate_domain_check.py`` fits the statistics,
measures the false-alarm rate on test renders (other seeds again) and the detection rate on photographs,
and writes the asset ``src/fashionlab/assets/domain-synthfashion`` (``config.json`` with the threshold
and the measurements, ``stats.safetensors``, ``README.md``). The asset names the attribute network by its
tensor hash, checked at load.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ..engine.tensors import upcast
from ..errors import InputError
from .attrnet import AttrNet

#: the shipped statistics (``load_domain_check()``)
DOMAIN_ASSET = "asset:domain-synthfashion"
STATS_FILE = "stats.safetensors"
#: the backbone stages whose content-averaged activations make the feature vector
LAYERS = (5, 6)
MESSAGE = (
    "this image looks unlike what the model was trained on; results may be meaningless "
    "(domain score {score:.1f} > threshold {threshold:.1f})"
)


@dataclass(frozen=True)
class DomainReport:
    """``score``: distance to the training renders (larger: less like them); ``unusual``: score above
    ``threshold``; ``message``: "" when usual, else a sentence to show the user."""

    score: float
    threshold: float
    unusual: bool
    message: str


def as_rgb(image: np.ndarray, index: int | None = None) -> np.ndarray:
    """An (H, W, 3) uint8 picture from (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 (or bool) input."""
    field = "image" if index is None else f"images[{index}]"
    a = np.asarray(image)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise InputError(f"expected a uint8 picture, got dtype {a.dtype}", field=field)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) < 1:
        raise InputError(f"expected an (H, W, 3) picture, got shape {a.shape}", field=field)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def content_box(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(top, left, bottom, right), as fractions of ``size``, of where a picture of ``shape`` lands when it is
    fitted into ``size`` (aspect kept, centred: :func:`fashionlab.data.imaging.resize_rgb`'s ``fit``)."""
    h, w = shape[:2]
    th, tw = size
    scale = min(th / h, tw / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    y0, x0 = (th - nh) // 2, (tw - nw) // 2
    return y0 / th, x0 / tw, (y0 + nh) / th, (x0 + nw) / tw


def content_mask(boxes: list[tuple[float, float, float, float]], h: int, w: int) -> torch.Tensor:
    """(N, 1, h, w) ones on every cell of an h x w map that each :func:`content_box` touches."""
    mask = torch.zeros(len(boxes), 1, h, w)
    for k, (top, left, bottom, right) in enumerate(boxes):
        ys = slice(int(np.floor(top * h)), int(np.ceil(bottom * h)))
        xs = slice(int(np.floor(left * w)), int(np.ceil(right * w)))
        mask[k, :, ys, xs] = 1
    return mask


@torch.no_grad()
def domain_features(net: AttrNet, images: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """(N, D) float64: per picture, the backbone stages :data:`LAYERS` of ``net`` averaged over the
    picture's own pixels (:func:`content_box`) after fitting it to ``net.preprocess``."""
    size, fit = net.preprocess.size, net.preprocess.resize == "fit"
    rows = []
    for start in range(0, len(images), batch_size):
        chunk = [as_rgb(im, start + k) for k, im in enumerate(images[start : start + batch_size])]
        x = torch.stack([net.preprocess.image(im) for im in chunk])
        boxes = [content_box(im.shape, size) if fit else (0.0, 0.0, 1.0, 1.0) for im in chunk]
        parts = []
        for i, layer in enumerate(net.backbone.features[: max(LAYERS) + 1]):
            x = layer(x)
            if i in LAYERS:
                mask = content_mask(boxes, *x.shape[-2:])
                parts.append((x.float() * mask).sum((2, 3)) / mask.sum((2, 3)))
        rows.append(torch.cat(parts, 1).double().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0))


def shrunk_gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, precision, shrinkage) of the rows of ``x`` with the Ledoit-Wolf shrunk covariance
    ``(1 - s) S + s m I`` (``S`` the sample covariance, ``m`` its mean eigenvalue, ``s`` the estimated
    optimal shrinkage, Ledoit & Wolf 2004)."""
    n, p = x.shape
    mean = x.mean(0)
    xc = x - mean
    s = xc.T @ xc / n
    m = np.trace(s) / p
    d2 = float(((s - m * np.eye(p)) ** 2).sum())
    b2 = float(((xc**2).sum(1) ** 2).sum() - n * (s**2).sum()) / n**2
    shrink = min(1.0, b2 / d2) if d2 > 0 else 1.0
    cov = (1 - shrink) * s + shrink * m * np.eye(p)
    return mean, np.linalg.inv(cov), shrink


def mahalanobis(x: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N,) Mahalanobis distances of the rows of ``x``."""
    d = x - mean
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, precision, d), 0.0))


class DomainCheck:
    """Scores pictures against the statistics of SynthFashion renders; see the module docstring."""

    def __init__(self, net: AttrNet, means: np.ndarray, precisions: np.ndarray, threshold: float, framings=()):
        self.net = net
        self.means = np.asarray(means, np.float64)  # (K, D): one Gaussian per framing
        self.precisions = np.asarray(precisions, np.float64)  # (K, D, D)
        self.threshold = float(threshold)
        self.framings = list(framings)
        self._lock = threading.Lock()  # one forward pass at a time (the HTTP service calls from threads)

    def scores(self, images: list[np.ndarray]) -> np.ndarray:
        """(N,) domain scores: the distance to the nearest framing's Gaussian."""
        with self._lock:
            feats = domain_features(self.net, images)
        if not len(feats):
            return np.zeros(0)
        return np.min([mahalanobis(feats, m, p) for m, p in zip(self.means, self.precisions, strict=True)], axis=0)

    def report(self, score: float) -> DomainReport:
        unusual = bool(score > self.threshold)
        message = MESSAGE.format(score=score, threshold=self.threshold) if unusual else ""
        return DomainReport(float(score), self.threshold, unusual, message)

    def check(self, image: np.ndarray) -> DomainReport:
        """The report of one ``(H, W, 3)`` uint8 picture of any size and aspect."""
        return self.report(float(self.scores([image])[0]))

    def check_batch(self, images: list[np.ndarray]) -> list[DomainReport]:
        """One report per picture."""
        return [self.report(float(s)) for s in self.scores(list(images))]


def read_domain_stats(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config.json, tensors of stats.safetensors upcast to fp32) of a domain-check folder."""
    folder = Path(path)
    cfg_path, stats_path = folder / "config.json", folder / STATS_FILE
    if not cfg_path.is_file() or not stats_path.is_file():
        raise InputError(f"not a domain check (expected config.json and {STATS_FILE})", path=folder)
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", path=cfg_path, line=e.lineno) from None
    if not isinstance(cfg, dict) or cfg.get("kind") != "domain-check" or not isinstance(cfg.get("network"), dict):
        raise InputError('expected {"kind": "domain-check", "network": {...}, "threshold": ...}', path=cfg_path)
    return cfg, upcast(load_file(str(stats_path)))


def build_domain_check(path: str | Path) -> DomainCheck:
    """A :class:`DomainCheck` from a folder written by ``bench/calibrate_domain_check.py`` (uncached)."""
    from .registry import load, model_path

    folder = model_path(path)
    cfg, stats = read_domain_stats(folder)
    ref = cfg["network"]
    network = f"asset:{ref['asset']}" if ref.get("asset") else ref.get("path", "")
    net = load(
        network,
        tensor_sha256=ref.get("tensor_sha256"),
        what=f"the attribute network the domain statistics of {folder.name} were computed with",
    )
    if not isinstance(net, AttrNet):
        raise InputError(f"{network} is not an attribute network", path=folder / "config.json", field="network")
    return DomainCheck(
        net, stats["means"].double().numpy(), stats["precisions"].double().numpy(), cfg["threshold"], cfg["framings"]
    )


_CACHE: dict[str, DomainCheck] = {}
_CACHE_LOCK = threading.Lock()


def load_domain_check(path: str | Path | None = None) -> DomainCheck:
    """The shipped domain check (``path`` None) or the one in folder ``path``; loaded once per folder."""
    from .registry import model_path

    key = str(model_path(path or DOMAIN_ASSET).resolve())
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = build_domain_check(key)
        return _CACHE[key]
