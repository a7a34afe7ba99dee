"""Queries: by image, by image + wanted change(s), region-aware, or by attributes alone, optionally
restricted by an attribute filter, over any :class:`.store.CatalogStore` (a folder or Milvus).

FashionSearchNet manipulation: the query's representation of each changed attribute is replaced by the
wanted value's prototype, the representations are compressed again into a global vector, and the catalog's
``global`` field is searched with it. The baseline shifts plain pooled features instead:
``q' = normalise(q - proto(old value) + proto(new value))``, searched exhaustively. Each query is one
inner-product search over one field of the catalog (:mod:`.scoring` says how region queries become one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.tensors import tensor_hash
from ..errors import InputError
from ..models.attrnet import AttrNet
from .embed import model_regions
from .scoring import attribute_query, region_query, score_layout, value_probabilities
from .store import REGION_TEMPERATURE, CatalogItem, CatalogStore, Where

__all__ = ["Hit", "Searcher", "model_identity", "value_probabilities"]


@dataclass
class Hit:
    rank: int
    score: float
    item: CatalogItem


def model_identity(model: AttrNet) -> str:
    """The network's identity as a catalog records it: the SHA-256 of its values (equal for the same
    weights however they were stored, different for any other network)."""
    return tensor_hash(model.state_dict())


class Searcher:
    """Answers queries over a catalog with the attribute network that built it (another is refused)."""

    def __init__(self, catalog: CatalogStore, model: AttrNet):
        self.catalog = catalog
        self.model = model.eval()
        self.attributes = catalog.attributes
        if [n for n, _ in self.attributes] != model.attribute_names:
            raise InputError(
                "the model's attributes differ from the catalog's; use the model the catalog was built with",
                path=catalog.location,
            )
        built_with = catalog.meta.get("model_id")
        if built_with and built_with != model_identity(model):
            raise InputError(
                f"this catalog was built with another attribute network ({catalog.meta.get('model')}, identity "
                f"{built_with[:12]}); expected that network, got one with identity {model_identity(model)[:12]}",
                path=catalog.location,
            )
        self.protos = catalog.prototypes()
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

    def check_where(self, where: dict[str, str | list[str]] | None) -> Where | None:
        """Validate an attribute filter ``{attribute or region attribute: value or [values]}``; returns it
        with lists of values, or None for no filter."""
        if not where:
            return None
        known = dict(self.attributes) | {n: list(v) for n, v in self.model.region_attributes}
        out = {}
        for name, wanted in where.items():
            if name not in known:
                raise InputError(
                    f"cannot filter on {name!r}; filterable attributes: {', '.join(known)}", field="--where"
                )
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            bad = [v for v in values if v not in known[name]]
            if bad or not values:
                raise InputError(
                    f"unknown value {bad[0] if bad else ''!r} for {name}; expected one of: {', '.join(known[name])}",
                    field=f"--where {name}",
                )
            out[name] = values
        return out

    def _search(
        self, field: str, q: np.ndarray, k: int, where: Where | None, temperature: float = REGION_TEMPERATURE
    ) -> list[Hit]:
        t = time.perf_counter()
        found = self.catalog.search(field, q.astype(np.float32), k, where, temperature=temperature)
        self.last_latency_ms = (time.perf_counter() - t) * 1000
        return [Hit(r, s, item) for r, (s, item) in enumerate(found)]

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
        region_temperature: float = REGION_TEMPERATURE,
        where: dict[str, str | list[str]] | None = None,
    ) -> list[Hit]:
        """Search with one embedded query image (``vectors`` of :func:`embed_batch`, batch of 1 squeezed).

        ``changes`` is ``{attribute: wanted value}``; ``region="sleeves"`` applies them to that region
        only (e.g. red sleeves, body unchanged): every item is scored by its similarity to the unchanged
        query (the garment as it is) plus, for each change, ``region_weight`` x (the probability that its
        region has the wanted value + the probability that the garment keeps the query's value), each a
        softmax over the value prototypes of cosine similarities times ``region_temperature``. Items with
        the wanted region and the query's garment value come first, ordered by how much else they share. ``method`` is
        ``fsn`` or ``baseline``. ``where`` keeps only items with those attribute values
        (``{"color": ["red", "pink"], "sleeves.pattern": "solid"}``).
        """
        ch = self.check_changes(changes or {})
        filt = self.check_where(where)
        if method == "baseline":
            return self._baseline(vectors, ch, k, filt)
        if method != "fsn":
            raise InputError(f"unknown method {method!r}; valid: fsn, baseline", field="method")
        if region is None:
            return self._search("global", self.manipulated_global(vectors["reps"], ch), k, filt)
        regions = model_regions(self.model)
        if region not in regions:
            known = ", ".join(regions) or "none (it was trained on data without region attributes)"
            raise InputError(f"unknown region {region!r}; this model's regions: {known}", field="--region")
        if f"region_{region}" not in self.catalog.vector_kinds():
            raise InputError(f"this catalog has no {region} region vectors (rebuild it)", path=self.catalog.location)
        wanted, kept = [], []
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
            wanted.append((f"region__{region}.{name}", v))
            kept.append((f"rep__{name}", int(np.argmax(self.protos[f"rep__{name}"] @ vectors["reps"][a]))))
        layout = score_layout(self.attributes, self.protos, len(vectors["global"]))
        q = region_query(vectors["global"].astype(np.float32), layout, wanted, kept, region_weight)
        return self._search("score", q, k, filt, region_temperature)

    def _baseline(
        self, vectors: dict[str, np.ndarray], ch: list[tuple[int, int]], k: int, where: Where | None
    ) -> list[Hit]:
        q = vectors["baseline"].astype(np.float32).copy()
        for a, v in ch:
            protos = self.protos[f"baseline__{self.attributes[a][0]}"]
            old = int(np.argmax(protos @ q))
            q = q - protos[old] + protos[v]
        q /= max(np.linalg.norm(q), 1e-12)
        return self._search("baseline", q, k, where)

    def query_attributes(
        self, wanted: dict[str, str], k: int = 10, where: dict[str, str | list[str]] | None = None
    ) -> list[Hit]:
        """Search by attributes alone: items whose attribute representations are closest to the wanted
        values' prototypes (sum of cosine similarities)."""
        ch = self.check_changes(wanted)
        filt = self.check_where(where)
        if not ch:
            raise InputError("give at least one attribute=value", field="--set")
        protos: list[np.ndarray | None] = [None] * len(self.attributes)
        for a, v in ch:
            protos[a] = self.protos[f"rep__{self.attributes[a][0]}"][v]
        rep_dim = self.protos[f"rep__{self.attributes[0][0]}"].shape[1]
        return self._search("reps", attribute_query(protos, rep_dim), k, filt)
