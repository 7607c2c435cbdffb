"""Strict dataclass <-> YAML machinery: typed parsing, dotted overrides, errors naming file, line and key.

Kept apart from `config.py` (which declares *what* the recipe holds) so that the parsing rules
are one small piece of code with its own tests.
"""
from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A recipe problem found before any compute; the message names the file, line and key."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, by dotted path."""


def _compose_lines(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            lines[path] = key_node.start_mark.line + 1
            _compose_lines(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            lines[path] = item.start_mark.line + 1
            _compose_lines(item, path, lines)


def load_yaml_with_lines(path: Path) -> tuple[dict, dict[str, int]]:
    """Read a YAML mapping and a {dotted.key: line} index used for error messages."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the recipe must be a mapping at the top level")
    lines: dict[str, int] = {}
    if node is not None:
        _compose_lines(node, "", lines)
    return data, lines


class _Ctx:
    def __init__(self, source: str, lines: dict[str, int]):
        self.source = source
        self.lines = lines

    def error(self, key: str, msg: str) -> ConfigError:
        line = self.lines.get(key)
        if line is None:
            parent = key
            while parent and line is None:
                parent = parent.rsplit(".", 1)[0] if "." in parent else ""
                line = self.lines.get(parent) if parent else None
        where = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{where}: {key or '<root>'}: {msg}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, ctx: _Ctx) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, ctx)
            except ConfigError:
                continue
        raise ctx.error(key, f"expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ctx.error(key, f"must be one of {', '.join(map(repr, allowed))}; got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ctx.error(key, f"expected a mapping, got {type(value).__name__} {value!r}")
        return _build(tp, value, key, ctx)
    if origin is list:
        (item_tp,) = get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise ctx.error(key, f"expected a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]", ctx) for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            raise ctx.error(key, f"expected a mapping, got {value!r}")
        return {_coerce(k, key_tp, f"{key}.{k}", ctx): _coerce(v, val_tp, f"{key}.{k}", ctx) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ctx.error(key, f"expected true or false, got {value!r}")
    if tp is int:
        number = _as_number(value)
        if number is None or not float(number).is_integer():
            raise ctx.error(key, f"expected an integer, got {value!r}")
        return int(number)
    if tp is float:
        number = _as_number(value)
        if number is None:
            raise ctx.error(key, f"expected a number, got {value!r}")
        return float(number)
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ctx.error(key, f"expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ctx.error(key, f"expected a path, got {value!r}")
    raise ctx.error(key, f"unsupported config type {tp!r}")


def _as_number(value: Any) -> float | int | None:
    """Numbers, and strings such as '1e6' or '4_000_000' (YAML 1.1 reads those as strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return None
    return None


def _build(cls: type, data: dict, prefix: str, ctx: _Ctx) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        key = f"{prefix}.{k}" if prefix else str(k)
        raise ctx.error(key, f"unknown key; known keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key, ctx)
    try:
        obj = cls(**kwargs)
    except TypeError as exc:
        raise ctx.error(prefix, str(exc)) from None
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            # validate() raises ValueError("sub.key: message"); resolve the line of that key.
            msg = str(exc)
            sub, _, rest = msg.partition(": ")
            if rest and " " not in sub:
                raise ctx.error(f"{prefix}.{sub}" if prefix else sub, rest) from None
            raise ctx.error(prefix, msg) from None
    return obj


def from_dict(cls: type, data: dict, source: str = "<dict>", lines: dict[str, int] | None = None) -> Any:
    """Build dataclass `cls` from a plain mapping, strictly (unknown keys and bad types fail)."""
    return _build(cls, data, "", _Ctx(source, lines or {}))


def to_dict(obj: Any) -> Any:
    """Plain YAML-ready data from a (nested) dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested mapping, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r}: empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {part} is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return data


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=False)


__all__ = [
    "ConfigError",
    "apply_overrides",
    "dump_yaml",
    "from_dict",
    "load_yaml_with_lines",
    "to_dict",
]
