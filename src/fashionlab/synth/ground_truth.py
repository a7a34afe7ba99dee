"""Exact ground truth that only a renderer can give: where an attribute lives in one image.

:func:`edit_region` is the set of pixels whose colour changes when one attribute takes any other value and
everything else (person, pose, scene, the other attributes) stays fixed. For ``sleeve`` that is the arm a
longer or shorter sleeve would cover or bare (it is not empty for a sleeveless top); for ``collar`` the
neckline; for ``fastening`` the placket; for ``color``/``pattern`` the garment. It is the region an edit
of that attribute may change, and the region an attribute activation map should point into: the
"edit-region" pointing game of :mod:`fashionlab.metrics.attributes` uses it.

Any SynthFashion dataset item can be re-rendered from its ``extra`` fields (seed, pose, framing), so the
regions are computed on demand rather than stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import InputError
from .attributes import ATTRIBUTES
from .figure import Pose
from .render import render


def edit_region(
    seed: int,
    attributes: dict[str, str],
    attribute: str,
    pose: Pose | None = None,
    *,
    size: int | tuple[int, int] = 128,
    framing: str | None = None,
    regions: dict[str, dict[str, str]] | None = None,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W) bool: the pixels of ``render(seed, attributes, pose)`` that change when ``attribute`` takes
    any of its other values. ``base`` may pass the noise-free base rendering when it is already known."""
    if attribute not in ATTRIBUTES:
        raise InputError(f"unknown attribute {attribute!r}; valid: {', '.join(ATTRIBUTES)}", field="attribute")
    kw: dict[str, Any] = dict(size=size, framing=framing, regions=regions, noise=False)
    if base is None:
        base = render(seed, attributes, pose, **kw).image
    changed = np.zeros(base.shape[:2], bool)
    for value in ATTRIBUTES[attribute]:
        if value == attributes[attribute]:
            continue
        other = render(seed, {**attributes, attribute: value}, pose, **kw).image
        changed |= (other != base).any(-1)
    return changed


def item_render_args(item: Any) -> dict[str, Any] | None:
    """``render`` keyword arguments that reproduce a SynthFashion dataset item (an ``Item`` or its dict),
    or ``None`` when the item was not made by SynthFashion (no seed/pose in ``extra``)."""
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    extra = get("extra") or {}
    if "seed" not in extra or "pose" not in extra:
        return None
    attrs = get("attributes") or {}
    if set(attrs) != set(ATTRIBUTES):
        return None
    return {
        "seed": int(extra["seed"]),
        "attributes": dict(attrs),
        "pose": Pose.from_dict(extra["pose"]),
        "framing": extra.get("framing"),
        "regions": get("region_attributes") or None,
    }


#: ``DatasetSchema.source["generator"]`` of the datasets :func:`fashionlab.synth.generate.generate_dataset` writes
SYNTH_GENERATOR = "fashionlab.synth"


def is_synthfashion(schema: Any, items: Iterable[Any] | None = None) -> bool:
    """Whether a dataset (its :class:`~fashionlab.data.format.DatasetSchema`) is SynthFashion data whose
    items can be re-rendered, so exact ground truth such as :func:`item_edit_regions` exists for them.

    The schema's provenance decides first: ``source.generator`` is :data:`SYNTH_GENERATOR` for generated
    datasets, and a dataset from another generator or from an importer (``source.importer``) is not
    SynthFashion even when its items carry seed/pose extras. A schema without provenance (hand-written)
    falls back to the items. Its attributes must be SynthFashion's. With ``items``, every one of them must
    also carry its render arguments (:func:`item_render_args`): a copy whose extras were stripped cannot
    be re-rendered; without ``items`` the schema alone answers (``source.generator`` must be set)."""
    source = getattr(schema, "source", None) or {}
    generator = source.get("generator")
    if generator is not None and generator != SYNTH_GENERATOR:
        return False
    if generator is None and "importer" in source:
        return False
    if not set(schema.attribute_names) <= set(ATTRIBUTES):
        return False
    if items is None:
        return generator == SYNTH_GENERATOR
    items = list(items)
    return bool(items) and all(item_render_args(it) is not None for it in items)


def item_edit_regions(
    item: Any, size: int | tuple[int, int], attributes: list[str] | None = None
) -> dict[str, np.ndarray]:
    """``{attribute: edit region}`` for a SynthFashion dataset item rendered at ``size`` (its stored size).
    Raises :class:`InputError` when the item cannot be re-rendered."""
    args = item_render_args(item)
    if args is None:
        name = item.get("id") if isinstance(item, dict) else getattr(item, "id", "?")
        raise InputError("not a SynthFashion item (extra.seed / extra.pose missing): no edit regions", field=name)
    base = render(**args, size=size, noise=False).image
    return {
        a: edit_region(**args, attribute=a, size=size, base=base)
        for a in (attributes if attributes is not None else list(ATTRIBUTES))
    }


__all__ = ["edit_region", "item_edit_regions", "item_render_args"]
