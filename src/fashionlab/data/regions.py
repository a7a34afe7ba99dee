"""Region attributes: attribute values that hold for one region of the garment ("red sleeves, blue body").

A dataset lists the regions that may carry their own values in ``annotations.region_attributes`` and each
item says where it differs (``item.region_attributes = {"sleeves": {"color": "red"}}``). A *region
attribute* is a (region, attribute) pair such as ``sleeves.color``; its value for an item is the item's
own override, else the garment's value (the sleeves are the colour of the garment), or unknown when the
item has no such region (a sleeveless top has no sleeves).
"""

from __future__ import annotations

from collections.abc import Iterable

from .format import UNKNOWN, AttributeSpec, DatasetSchema, Item

#: region -> (attribute, value) that means the region is absent from the garment
REGION_ABSENT: dict[str, tuple[str, str]] = {"sleeves": ("sleeve", "sleeveless")}


def region_attribute_name(region: str, attribute: str) -> str:
    return f"{region}.{attribute}"


def split_region_attribute(name: str) -> tuple[str, str]:
    """``"sleeves.color"`` -> ``("sleeves", "color")``."""
    region, _, attribute = name.partition(".")
    return region, attribute


def regions_of(region_attributes: Iterable[tuple[str, object]]) -> dict[str, list[str]]:
    """``{region: [attribute, ...]}`` of ``[("sleeves.color", values), ...]``, in their order (the order of a
    region's representations in the ``region_<region>`` search vectors)."""
    out: dict[str, list[str]] = {}
    for name, _ in region_attributes:
        region, attribute = split_region_attribute(name)
        out.setdefault(region, []).append(attribute)
    return out


def has_region(attributes: dict[str, str], region: str) -> bool:
    """Whether a garment with these item-level ``attributes`` has ``region`` at all (no sleeves when
    sleeveless)."""
    absent = REGION_ABSENT.get(region)
    return absent is None or attributes.get(absent[0]) != absent[1]


def region_attribute_specs(schema: DatasetSchema, items: Iterable[Item]) -> list[tuple[str, str, AttributeSpec]]:
    """``[(region, attribute, spec), ...]`` for every attribute that some item overrides in a region the
    schema lists, in schema order (regions, then attributes)."""
    seen: dict[str, set[str]] = {r: set() for r in schema.annotations.region_attributes}
    for it in items:
        for region, values in (it.region_attributes or {}).items():
            if region in seen:
                seen[region].update(values)
    return [
        (region, spec.name, spec)
        for region in schema.annotations.region_attributes
        for spec in schema.attributes
        if spec.name in seen[region]
    ]


def region_value(item: Item, region: str, attribute: str) -> str:
    """The value of ``attribute`` in ``region`` of ``item`` (see the module docstring)."""
    if not has_region(item.attributes, region):
        return UNKNOWN
    own = (item.region_attributes or {}).get(region) or {}
    return own.get(attribute, item.attributes.get(attribute, UNKNOWN))


def region_labels(items: list[Item], region_attributes: list[tuple[str, list[str]]]) -> list[list[int]]:
    """(N, R) value indices (-1 unknown) of ``region_attributes`` (``[("sleeves.color", values), ...]``)."""
    out = []
    for it in items:
        row = []
        for name, values in region_attributes:
            v = region_value(it, *split_region_attribute(name))
            row.append(values.index(v) if v in values else -1)
        out.append(row)
    return out


__all__ = [
    "REGION_ABSENT",
    "has_region",
    "region_attribute_name",
    "region_attribute_specs",
    "region_labels",
    "region_value",
    "regions_of",
    "split_region_attribute",
]
