"""The synthetic vector collections of bench/bench_catalog_10m.py: a Gaussian mixture fitted to real
embeddings (one component per attribute combination) and the drawn vectors kept in a float32 file, read back
in chunks so that memory readings count the indexes, not the data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

CHUNK = 250_000  # vectors per chunk, drawn and read


@dataclass
class ComboMixture:
    """A Gaussian mixture over L2-normalised vectors: one component per attribute combination (its mean
    vector, its share of the images as weight) with one shared within-combination covariance."""

    means: np.ndarray  # (C, d)
    weights: np.ndarray  # (C,)
    labels: np.ndarray  # (C, A) the attribute value indices of each component
    chol: np.ndarray  # (d, d) lower Cholesky factor of the shared covariance

    @classmethod
    def fit(cls, vecs: np.ndarray, labels: np.ndarray, by_combination: bool = True) -> ComboMixture:
        """Fit to (N, d) vectors with (N, A) attribute labels; ``by_combination=False`` is one Gaussian."""
        x = vecs.astype(np.float64)
        keys = np.unique(labels, axis=0, return_inverse=True)[1].ravel() if by_combination else np.zeros(len(x), int)
        n_comp = int(keys.max()) + 1
        counts = np.bincount(keys, minlength=n_comp)
        means = np.zeros((n_comp, x.shape[1]))
        np.add.at(means, keys, x)
        means /= counts[:, None]
        resid = x - means[keys]
        cov = resid.T @ resid / max(len(x) - n_comp, 1)
        comp_labels = np.zeros((n_comp, labels.shape[1]), labels.dtype)
        comp_labels[keys] = labels
        chol = np.linalg.cholesky(cov + 1e-9 * np.eye(len(cov)))
        return cls(means.astype(np.float32), counts / counts.sum(), comp_labels, chol.astype(np.float32))

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n, d) float32 normalised vectors and the component of each."""
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        x = self.means[comp] + rng.standard_normal((n, self.chol.shape[0]), dtype=np.float32) @ self.chol.T
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x, comp


class Collection:
    """The drawn vectors in a float32 file, read back in chunks (so RSS counts indexes, not the data)."""

    def __init__(self, path: Path, n: int, d: int):
        self.path, self.n, self.d = path, n, d

    def make(self, mix: ComboMixture, seed: int) -> float:
        """Draw the vectors (a kept file of the right size is reused); seconds taken."""
        if self.path.exists() and self.path.stat().st_size == self.n * self.d * 4:
            return 0.0
        t = time.perf_counter()
        rng = np.random.default_rng(seed)
        with open(self.path, "wb") as f:
            for i in tqdm(range(0, self.n, CHUNK), desc="drawing", unit="chunk"):
                f.write(mix.draw(min(CHUNK, self.n - i), rng)[0].tobytes())
        return time.perf_counter() - t

    def chunks(self, limit: int | None = None, desc: str | None = None) -> Iterator[np.ndarray]:
        """The first ``limit`` vectors (default all) in chunks of CHUNK, with a progress bar when ``desc``."""
        n = min(self.n, limit or self.n)
        for i in tqdm(range(0, n, CHUNK), desc=desc, unit="chunk", disable=desc is None):
            count = min(CHUNK, n - i)
            yield np.fromfile(self.path, np.float32, count * self.d, offset=i * self.d * 4).reshape(count, self.d)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors at positions ``ids`` (any shape), shape ``ids.shape + (d,)``."""
        data = np.memmap(self.path, np.float32, "r", shape=(self.n, self.d))
        flat = ids.ravel()
        order = np.argsort(flat)
        out = np.empty((len(flat), self.d), np.float32)
        out[order] = data[flat[order]]
        del data
        return out.reshape(*ids.shape, self.d)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` vectors at random positions (a training sample)."""
        rows = np.sort(np.random.default_rng(seed).choice(self.n, size=min(n, self.n), replace=False))
        data = np.memmap(self.path, np.float32, "r", shape=(self.n, self.d))
        out = np.ascontiguousarray(data[rows])
        del data
        return out
