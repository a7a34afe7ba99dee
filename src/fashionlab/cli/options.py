"""Parsers shared by the CLI commands (sizes, fractions, key=value lists)."""

from __future__ import annotations

from ..errors import InputError


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """``"128"`` -> (128, 128); ``"128x64"`` -> (128, 64) as (height, width)."""
    try:
        if "x" in text.lower():
            h, w = text.lower().split("x", 1)
            return int(h), int(w)
        return int(text), int(text)
    except ValueError:
        raise InputError(f"expected a size like 128 or 128x64 (height x width), got {text!r}", field=option) from None


def parse_fractions(text: str, option: str = "--split") -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise InputError(f"expected three numbers like 0.8,0.1,0.1, got {text!r}", field=option) from None
    if len(parts) != 3:
        raise InputError(f"expected three numbers (train,val,test), got {len(parts)}", field=option)
    return parts  # type: ignore[return-value]


def parse_kv(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"expected key=value, got {item!r}", field=option)
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [p.strip() for p in text.split(",") if p.strip()]
