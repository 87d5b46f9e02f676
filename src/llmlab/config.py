"""Presets as dataclasses, with `--set key=value` overrides and a JSON form for run folders.

    cfg = apply_overrides(TinyPreset(), ["lr=3e-4", "n_layer=2"])

Overrides are converted to the field's declared type, so a typo or a wrong type fails with a clear
message instead of training the wrong model.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

from llmlab.errors import LabError

T = TypeVar("T")


def _convert(text: str, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "null"):
            return None
        return _convert(text, args[0], key)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(kind) or (str,)
        items = [_convert(part.strip(), inner, key) for part in text.split(",") if part.strip()]
        return items if origin is list else tuple(items)
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(float(text)) if "e" in text.lower() else int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise LabError(f"setting {key}={text!r} is not a valid {kind.__name__}",
                       hint=f"give {key} a {kind.__name__} value, e.g. --set {key}=...") from None
    return text


def apply_overrides(cfg: T, overrides: list[str] | None) -> T:
    """Return a copy of dataclass `cfg` with each "key=value" applied, typed as the field is."""
    if not overrides:
        return cfg
    hints = typing.get_type_hints(type(cfg))
    names = [f.name for f in dataclasses.fields(cfg)]
    changes: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise LabError(f"override {item!r} has no '='", hint="write overrides as --set key=value")
        key, value = (s.strip() for s in item.split("=", 1))
        if key not in names:
            raise LabError(f"unknown setting {key!r} for {type(cfg).__name__}",
                           hint="known settings: " + ", ".join(names))
        changes[key] = _convert(value, hints[key], key)
    return dataclasses.replace(cfg, **changes)


def config_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass (or a dict), for `config.json`."""
    data = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    return json.loads(json.dumps(data, default=str))


def route_overrides(overrides: list[str] | None, groups: dict[str, set[str]], owner: str) -> dict[str,
                                                                                                  list[str]]:
    """Send each "key=value" to the group whose settings hold the key (e.g. model vs training settings).

    `groups` maps a group name to its setting names, first match wins; an unknown key fails and lists
    every group's settings, so a preset made of two dataclasses still takes one flat `--set` list.
    """
    routed: dict[str, list[str]] = {name: [] for name in groups}
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        group = next((name for name, keys in groups.items() if key in keys), None)
        if group is None:
            raise LabError(f"unknown setting {key!r} for {owner}",
                           hint="; ".join(f"{name} settings: {', '.join(sorted(keys))}" for name,
                                          keys in groups.items()))
        routed[group].append(item)
    return routed
