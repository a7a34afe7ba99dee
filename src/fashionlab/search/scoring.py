"""Every query as one inner product: the vectors a catalog is searched over and the query vectors for them.

Region-aware search ("red sleeves, body unchanged") scores each item by its similarity to the unchanged
query plus, per change, ``weight`` x (the probability that its region has the wanted value + the
probability that the garment keeps the query's value). Those probabilities depend on the item only (a
softmax over the value prototypes at a fixed temperature), so each item gets one ``score`` vector::

    [global | P(region value) per region attribute ... | P(garment value) per attribute ...]

and the query ``[q_global | weight at the wanted region values | weight at the kept garment values]``: its
inner product is exactly the score. A folder catalog computes the ``score`` vectors when first searched,
a Milvus catalog stores them as a vector field, so both answer region queries with one exact search.
"""

from __future__ import annotations

import numpy as np

from .store import region_attribute_names


def value_probabilities(reps: np.ndarray, protos: np.ndarray, temperature: float) -> np.ndarray:
    """(N, n_values) softmax over the value prototypes of cosine similarities x ``temperature``."""
    logits = temperature * (reps @ protos.T)
    logits[:, ~np.any(protos, axis=1)] = -np.inf  # values without a prototype
    logits -= logits.max(1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def score_layout(
    attributes: list[tuple[str, list[str]]], prototypes: dict[str, np.ndarray], global_dim: int
) -> dict[str, tuple[int, int]]:
    """``{"region__sleeves.color": (start, n_values), ..., "rep__color": (start, n_values), ...}``: where each
    attribute's value probabilities sit in a ``score`` vector (the global representation comes first)."""
    layout, start = {}, global_dim
    keys = [f"region__{n}" for n in region_attribute_names(prototypes)] + [f"rep__{n}" for n, _ in attributes]
    for key in keys:
        n = len(prototypes[key])
        layout[key] = (start, n)
        start += n
    return layout


def score_dim(attributes: list[tuple[str, list[str]]], prototypes: dict[str, np.ndarray], global_dim: int) -> int:
    """Length of the ``score`` vectors."""
    return global_dim + sum(n for _, n in score_layout(attributes, prototypes, global_dim).values())


def score_vectors(
    vectors: dict[str, np.ndarray],
    attributes: list[tuple[str, list[str]]],
    prototypes: dict[str, np.ndarray],
    temperature: float,
) -> np.ndarray:
    """(N, D) ``score`` vectors of items with ``vectors`` (``global``, ``reps``, ``region_<r>``)."""
    parts = [vectors["global"].astype(np.float32)]
    positions: dict[str, list[str]] = {}
    for name in region_attribute_names(prototypes):
        region, _, attribute = name.partition(".")
        positions.setdefault(region, []).append(attribute)
    for name in region_attribute_names(prototypes):
        region, _, attribute = name.partition(".")
        reps = vectors[f"region_{region}"][:, positions[region].index(attribute)]
        parts.append(value_probabilities(reps, prototypes[f"region__{name}"], temperature))
    for a, (name, _) in enumerate(attributes):
        parts.append(value_probabilities(vectors["reps"][:, a], prototypes[f"rep__{name}"], temperature))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def region_query(
    query_global: np.ndarray,
    layout: dict[str, tuple[int, int]],
    wanted: list[tuple[str, int]],
    kept: list[tuple[str, int]],
    weight: float,
) -> np.ndarray:
    """The query vector over ``score`` vectors: ``wanted`` ``[("region__sleeves.color", value index)]``,
    ``kept`` ``[("rep__color", value index)]``, each weighted by ``weight``."""
    dim = max(s + n for s, n in layout.values()) if layout else len(query_global)
    q = np.zeros(dim, np.float32)
    q[: len(query_global)] = query_global
    for key, v in [*wanted, *kept]:
        start, _ = layout[key]
        q[start + v] += weight
    return q


def attribute_query(protos: list[np.ndarray | None], rep_dim: int) -> np.ndarray:
    """The query vector over flattened attribute representations: the wanted value's prototype in the
    slot of each asked attribute (``None``: not asked), zeros elsewhere."""
    q = np.zeros(len(protos) * rep_dim, np.float32)
    for a, p in enumerate(protos):
        if p is not None:
            q[a * rep_dim : (a + 1) * rep_dim] = p
    return q
