"""Typed configs: dataclass defaults, then a YAML preset, then ``key=value`` overrides.

Every model has a config dataclass (nested dataclasses allowed). ``resolve_config`` builds it::

    cfg = resolve_config(AttrNetConfig, preset="cpu", overrides=["train.steps=200", "model.backbone=resnet18"])

Presets live in ``src/fashionlab/presets/<model>/<name>.yaml`` (or any YAML path). Unknown keys and
badly typed values are errors that name the key and the expected type.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import InputError

T = TypeVar("T")
PRESET_DIR = Path(__file__).parent / "presets"


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Convert ``value`` (from YAML or a command-line string) to ``typ`` or raise naming ``key``."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except InputError as e:
                errors.append(str(e))
        raise InputError(f"expected {typ}, got {value!r}", field=key)
    if dataclasses.is_dataclass(typ):
        if isinstance(value, typ):
            return value
        if not isinstance(value, dict):
            raise InputError(f"expected a mapping for {typ.__name__}, got {value!r}", field=key)
        return _from_dict(typ, value, prefix=key + ".")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise InputError(f"expected a list, got {value!r}", field=key)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise InputError(f"expected {len(args)} values, got {len(value)}", field=key)
            return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
        inner = args[0] if args else Any
        out = [_coerce(v, inner, key) for v in value]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise InputError(f"expected a mapping, got {value!r}", field=key)
        return dict(value)
    if typ is Any:
        return value
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise InputError(f"expected true/false, got {value!r}", field=key)
    if typ is int:
        if isinstance(value, bool):
            raise InputError(f"expected an integer, got {value!r}", field=key)
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise InputError(f"expected an integer, got {value!r}", field=key) from None
        if not f.is_integer():
            raise InputError(f"expected an integer, got {value!r}", field=key)
        return int(f)
    if typ is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(f"expected a number, got {value!r}", field=key) from None
    if typ is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return str(value)
        raise InputError(f"expected a string, got {value!r}", field=key)
    if typ is Path:
        return Path(value)
    return value


def _from_dict(cls: type[T], d: dict[str, Any], prefix: str = "") -> T:
    types_ = _field_types(cls)
    unknown = set(d) - set(types_)
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)}; valid: {sorted(types_)}", field=prefix.rstrip(".") or None)
    kwargs = {k: _coerce(v, types_[k], prefix + k) for k, v in d.items()}
    return cls(**kwargs)


def merge(cfg: T, updates: dict[str, Any], prefix: str = "") -> T:
    """Return ``cfg`` with a nested dict of updates applied (validated and typed)."""
    types_ = _field_types(type(cfg))
    changes = {}
    for k, v in updates.items():
        if k not in types_:
            raise InputError(f"unknown key {prefix + k!r}; valid here: {sorted(types_)}", field=prefix + k)
        current = getattr(cfg, k)
        if dataclasses.is_dataclass(current) and isinstance(v, dict):
            changes[k] = merge(current, v, prefix + k + ".")
        else:
            changes[k] = _coerce(v, types_[k], prefix + k)
    return dataclasses.replace(cfg, **changes)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["train.lr=1e-4", "model.backbone=resnet18"]`` -> nested dict (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"expected key=value, got {item!r}", field="override")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def load_preset(model: str, preset: str) -> dict[str, Any]:
    """Read a preset by name (``presets/<model>/<preset>.yaml``) or by path."""
    path = Path(preset)
    if not path.suffix:
        path = PRESET_DIR / model / f"{preset}.yaml"
        if not path.is_file():
            avail = sorted(p.stem for p in (PRESET_DIR / model).glob("*.yaml"))
            raise InputError(f"no preset {preset!r} for {model}; available: {', '.join(avail) or '(none)'}")
    if not path.is_file():
        raise InputError("preset file not found", path=path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML ({e})", path=path) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping at the top level", path=path)
    return data


def resolve_config(
    cls: type[T], *, model: str, preset: str | None = None, overrides: list[str] | None = None, base: T | None = None
) -> T:
    """Defaults (or ``base``) <- preset YAML <- ``key=value`` overrides."""
    cfg = base if base is not None else cls()
    if preset:
        cfg = merge(cfg, load_preset(model, preset))
    if overrides:
        cfg = merge(cfg, parse_overrides(overrides))
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Rebuild a config dataclass from :func:`to_dict` output."""
    return _from_dict(cls, d)


def dumps(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2)
