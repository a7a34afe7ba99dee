"""Queries: by image, by image + wanted change(s), region-aware, or by attributes alone.

FashionSearchNet manipulation: the query's representation of each changed attribute is replaced by the
wanted value's prototype, the representations are compressed again into a global vector, and the FAISS
index is searched with it. The baseline shifts plain pooled features instead:
``q' = normalise(q - proto(old value) + proto(new value))``, searched exhaustively.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..models.attrnet import AttrNet
from .catalog import Catalog, CatalogItem
from .embed import model_regions


@dataclass
class Hit:
    rank: int
    score: float
    item: CatalogItem


def value_probabilities(reps: np.ndarray, protos: np.ndarray, temperature: float) -> np.ndarray:
    """(N, n_values) softmax over the value prototypes of cosine similarities x ``temperature``."""
    logits = temperature * (reps @ protos.T)
    logits[:, ~np.any(protos, axis=1)] = -np.inf  # values without a prototype
    logits -= logits.max(1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


class Searcher:
    """Answers queries over a :class:`Catalog` with the attribute network that built it."""

    def __init__(self, catalog: Catalog, model: AttrNet):
        self.catalog = catalog
        self.model = model.eval()
        self.attributes = catalog.attributes
        if [n for n, _ in self.attributes] != model.attribute_names:
            raise InputError(
                "the model's attributes differ from the catalog's; use the model the catalog was built with",
                path=catalog.root,
            )
        self.protos = catalog.prototypes()
        self._probabilities: dict[tuple, np.ndarray] = {}  # per catalog item, value probabilities (cached)
        self.last_latency_ms = 0.0

    # ------------------------------------------------------------------ helpers
    def check_changes(self, changes: dict[str, str]) -> list[tuple[int, int]]:
        """Validate ``{attribute: value}`` against the catalog; returns (attribute index, value index)."""
        out = []
        names = [n for n, _ in self.attributes]
        for name, value in changes.items():
            if name not in names:
                raise InputError(f"unknown attribute {name!r}; this catalog has: {', '.join(names)}", field="--set")
            a = names.index(name)
            values = self.attributes[a][1]
            if value not in values:
                raise InputError(
                    f"unknown value {value!r} for {name}; valid: {', '.join(values)}", field=f"--set {name}"
                )
            if not np.any(self.protos[f"rep__{name}"][values.index(value)]):
                raise InputError(
                    f"no training image had {name}={value}, so there is no prototype for it", field="--set"
                )
            out.append((a, values.index(value)))
        return out

    def _search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        t = time.perf_counter()
        scores, idx = self.catalog.index().search(np.ascontiguousarray(q[None].astype(np.float32)), k)
        self.last_latency_ms = (time.perf_counter() - t) * 1000
        return scores[0], idx[0]

    def _hits(self, scores, idx) -> list[Hit]:
        items = self.catalog.items()
        return [Hit(r, float(s), items[int(i)]) for r, (s, i) in enumerate(zip(scores, idx, strict=True)) if i >= 0]

    # ------------------------------------------------------------------ queries
    def manipulated_global(self, reps: np.ndarray, changes: list[tuple[int, int]]) -> np.ndarray:
        reps = reps.copy()
        for a, v in changes:
            reps[a] = self.protos[f"rep__{self.attributes[a][0]}"][v]
        with torch.no_grad():
            g = self.model.compress_reps(torch.from_numpy(reps[None]).to(next(self.model.parameters()).device))
        return g[0].cpu().numpy()

    def query(
        self,
        vectors: dict[str, np.ndarray],
        changes: dict[str, str] | None = None,
        *,
        k: int = 10,
        region: str | None = None,
        method: str = "fsn",
        region_weight: float = 1.0,
        region_temperature: float = 20.0,
    ) -> list[Hit]:
        """Search with one embedded query image (``vectors`` of :func:`embed_batch`, batch of 1 squeezed).

        ``changes`` is ``{attribute: wanted value}``; ``region="sleeves"`` applies them to that region
        only (e.g. red sleeves, body unchanged): every item is scored by its similarity to the unchanged
        query (the garment as it is) plus, for each change, ``region_weight`` x (the probability that its
        region has the wanted value + the probability that the garment keeps the query's value), each a
        softmax over the value prototypes of cosine similarities times ``region_temperature``. Items with
        the wanted region and the query's garment value come first, ordered by how much else they share. ``method`` is
        ``fsn`` or ``baseline``.
        """
        ch = self.check_changes(changes or {})
        if method == "baseline":
            return self._baseline(vectors, ch, k)
        if method != "fsn":
            raise InputError(f"unknown method {method!r}; valid: fsn, baseline", field="method")
        if region is None:
            scores, idx = self._search(self.manipulated_global(vectors["reps"], ch), k)
            return self._hits(scores, idx)
        regions = model_regions(self.model)
        if region not in regions:
            known = ", ".join(regions) or "none (it was trained on data without region attributes)"
            raise InputError(f"unknown region {region!r}; this model's regions: {known}", field="--region")
        key = f"region_{region}"
        cat = self.catalog.vectors()
        if key not in cat:
            raise InputError(f"this catalog has no {region} region vectors (rebuild it)", path=self.catalog.root)
        t = time.perf_counter()
        total = cat["global"] @ vectors["global"].astype(np.float32)
        for a, v in ch:
            name = self.attributes[a][0]
            if name not in regions[region]:
                raise InputError(
                    f"{name} cannot be changed on the {region} alone; can: {', '.join(regions[region])}",
                    field="--set",
                )
            proto = self.protos.get(f"region__{region}.{name}")
            if proto is None or not np.any(proto[v]):
                raise InputError(f"no prototype for {region}.{name}={self.attributes[a][1][v]}", field="--set")
            # the region must take the wanted value, the rest of the garment keep the query's value
            body = self.protos[f"rep__{name}"]
            kept = int(np.argmax(body @ vectors["reps"][a]))
            j = regions[region].index(name)
            p_region = self._value_probabilities(key, j, f"region__{region}.{name}", region_temperature)[:, v]
            p_body = self._value_probabilities("reps", a, f"rep__{name}", region_temperature)[:, kept]
            total = total + region_weight * (p_region + p_body)
        kk = min(k, len(total))
        top = np.argpartition(-total, kk - 1)[:kk] if kk < len(total) else np.arange(len(total))
        order = top[np.argsort(-total[top])]
        self.last_latency_ms = (time.perf_counter() - t) * 1000
        return self._hits(total[order], order)

    def _value_probabilities(self, key: str, j: int, proto_key: str, temperature: float) -> np.ndarray:
        """(N, n_values) value probabilities of representation ``j`` of the catalog's ``key`` vectors; they
        do not depend on the query, so they are computed once per catalog generation."""
        cache_key = (self.catalog.generation, key, j, proto_key, temperature)
        if cache_key not in self._probabilities:
            reps = self.catalog.vectors()[key][:, j]
            self._probabilities[cache_key] = value_probabilities(reps, self.protos[proto_key], temperature)
        return self._probabilities[cache_key]

    def _baseline(self, vectors: dict[str, np.ndarray], ch: list[tuple[int, int]], k: int) -> list[Hit]:
        q = vectors["baseline"].astype(np.float32).copy()
        for a, v in ch:
            protos = self.protos[f"baseline__{self.attributes[a][0]}"]
            old = int(np.argmax(protos @ q))
            q = q - protos[old] + protos[v]
        q /= max(np.linalg.norm(q), 1e-12)
        t = time.perf_counter()
        scores = self.catalog.vectors()["baseline"] @ q
        idx = np.argsort(-scores)[:k]
        self.last_latency_ms = (time.perf_counter() - t) * 1000
        return self._hits(scores[idx], idx)

    def query_attributes(self, wanted: dict[str, str], k: int = 10) -> list[Hit]:
        """Search by attributes alone: items whose attribute representations are closest to the wanted
        values' prototypes (sum of cosine similarities)."""
        ch = self.check_changes(wanted)
        if not ch:
            raise InputError("give at least one attribute=value", field="--set")
        reps = self.catalog.vectors()["reps"]
        t = time.perf_counter()
        score = np.zeros(len(reps), np.float32)
        for a, v in ch:
            score += reps[:, a] @ self.protos[f"rep__{self.attributes[a][0]}"][v]
        idx = np.argsort(-score)[:k]
        self.last_latency_ms = (time.perf_counter() - t) * 1000
        return self._hits(score[idx], idx)
