"""Reference images for AMGAN's perceptual loss: a real training image whose attributes all equal the
wanted ones, found in O(1) by attribute tuple; when no image has exactly that tuple, one of the images
sharing the most attribute values (the nearest tuple), and the share of such fallbacks is counted."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch


class ReferenceSampler:
    """``labels`` (n, M) value indices of a dataset's items (-1 unknown). :meth:`draw` returns dataset
    indices for a batch of wanted tuples, drawing among equals with the global torch RNG (so a resumed
    run draws what the uninterrupted run would have)."""

    def __init__(self, labels: np.ndarray):
        labels = np.asarray(labels, np.int64)
        self.labels = labels
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, row in enumerate(labels):
            groups[tuple(int(v) for v in row)].append(i)
        self.groups = {k: np.asarray(v, np.int64) for k, v in groups.items()}
        self.keys = np.asarray(list(self.groups), np.int64).reshape(len(self.groups), labels.shape[1])
        self._nearest: dict[tuple[int, ...], np.ndarray] = {}
        self.draws = 0
        self.fallbacks = 0

    def _candidates(self, key: tuple[int, ...]) -> tuple[np.ndarray, bool]:
        exact = self.groups.get(key)
        if exact is not None:
            return exact, True
        near = self._nearest.get(key)
        if near is None:
            want = np.asarray(key)
            score = ((self.keys == want) & (want >= 0)).sum(1)
            best = np.flatnonzero(score == score.max())
            near = np.concatenate([self.groups[tuple(int(v) for v in self.keys[k])] for k in best])
            self._nearest[key] = near
        return near, False

    def draw(self, wanted: torch.Tensor) -> torch.Tensor:
        """(B,) dataset indices of reference images for ``wanted`` (B, M) attribute tuples."""
        out = []
        for row in wanted.cpu().tolist():
            cands, exact = self._candidates(tuple(row))
            self.draws += 1
            self.fallbacks += not exact
            out.append(int(cands[int(torch.randint(len(cands), ()))]))
        return torch.tensor(out, dtype=torch.long)

    def fallback_share(self, reset: bool = True) -> float:
        """Share of draws since the last reset that had no exact match."""
        share = self.fallbacks / max(self.draws, 1)
        if reset:
            self.draws = self.fallbacks = 0
        return share

    def state_dict(self) -> dict:
        return {"draws": self.draws, "fallbacks": self.fallbacks}

    def load_state_dict(self, state: dict) -> None:
        self.draws, self.fallbacks = int(state["draws"]), int(state["fallbacks"])
