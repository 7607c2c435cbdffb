"""Strict dataclass <-> YAML machinery: typed parsing, dotted overrides, errors naming file, line and key.

Kept apart from `config.py` (which declares *what* the recipe holds) so that the parsing rules
are one small piece of code with its own tests.
"""
from __future__ import annotations

import dataclasses
import datetime
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A recipe problem found before any compute; the message names the file, line and key."""


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, by dotted path."""


_STR_TAG = "tag:yaml.org,2002:str"


def _plain_non_string(node: yaml.Node) -> bool:
    """An unquoted scalar that YAML reads as something other than a string (010, 12:30, 0x1F, 2.50, 2024-01-01)."""
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.tag != _STR_TAG


def _compose_lines(node: yaml.Node, prefix: str, lines: dict[str, int] | None, texts: dict | None = None) -> None:
    """Fill `lines` ({dotted.key: line}) and, when given, `texts`: the source text of every unquoted non-string
    scalar by dotted path (a mapping key under `(mapping path, its value)`), so that a str field keeps what was
    written (`name: 010` is "010", not the octal 8)."""
    if texts is not None and _plain_non_string(node):
        texts[prefix] = node.value
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            if lines is not None:
                lines[path] = key_node.start_mark.line + 1
            if texts is not None and _plain_non_string(key_node):
                try:
                    texts[(prefix, yaml.safe_load(key_node.value))] = key_node.value
                except (yaml.YAMLError, TypeError):
                    pass
            _compose_lines(value_node, path, lines, texts)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            if lines is not None:
                lines[path] = item.start_mark.line + 1
            _compose_lines(item, path, lines, texts)


def load_yaml_with_lines(path: Path, texts: dict | None = None) -> tuple[dict, dict[str, int]]:
    """Read a YAML mapping and a {dotted.key: line} index used for error messages; `texts`, when given, is
    filled with the source text of unquoted non-string scalars (see `_compose_lines`) for `from_dict`."""
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
        _compose_lines(node, "", lines, texts)
    return data, lines


class _Ctx:
    def __init__(self, source: str, lines: dict[str, int], texts: dict | None = None):
        self.source = source
        self.lines = lines
        self.texts = texts or {}

    def error(self, key: str, msg: str) -> ConfigError:
        line = self.lines.get(key)
        if line is None:
            parent = key
            while parent and line is None:  # the nearest enclosing key or list item the file has
                if parent.endswith("]"):
                    parent = parent[:parent.rindex("[")]
                else:
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
        out = {}
        for k, v in value.items():
            text = ctx.texts.get((key, k)) if not isinstance(k, str) else None  # `010:` as written, not 8
            name = k if text is None else text
            out[text if text is not None and key_tp is str else _coerce(k, key_tp, f"{key}.{name}", ctx)] = \
                _coerce(v, val_tp, f"{key}.{name}", ctx)
        return out
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
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float, datetime.date)) and not isinstance(value, bool):
            # what was written when known (`name: 010` is "010", `12:30` stays "12:30"), else the number's text
            text = ctx.texts.get(key)
            if text is not None:
                return text
            if not isinstance(value, datetime.date):
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


def from_dict(cls: type, data: dict, source: str = "<dict>", lines: dict[str, int] | None = None,
              texts: dict | None = None) -> Any:
    """Build dataclass `cls` from a plain mapping, strictly (unknown keys and bad types fail); `texts` (from
    `load_yaml_with_lines` / `apply_overrides`) gives str fields the source text of values YAML read as numbers."""
    return _build(cls, data, "", _Ctx(source, lines or {}, texts))


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


def _forget_texts(texts: dict, key: str) -> None:
    """Drop the source texts recorded at or under dotted path `key` (an override replaced that value)."""
    def under(path: str) -> bool:
        return path == key or path.startswith((f"{key}.", f"{key}["))

    for k in [k for k in texts if under(k[0] if isinstance(k, tuple) else k)]:
        del texts[k]


def apply_overrides(data: dict, overrides: list[str], texts: dict | None = None) -> dict:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested mapping, in place.

    `texts`, when given, records each override's source text where YAML reads it as a number or date (and
    forgets the file's texts under the keys replaced), so `run.name=010` stays "010" for a str field."""
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
        if texts is not None:
            _forget_texts(texts, key)
            if raw.strip() and not isinstance(value, str):
                try:
                    _compose_lines(yaml.compose(raw, Loader=yaml.SafeLoader), key, None, texts)
                except yaml.YAMLError:
                    pass
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            part = _existing_key(node, part, ".".join(parts[:depth]), texts)
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {part} is not a mapping")
            node = nxt
        node[_existing_key(node, parts[-1], ".".join(parts[:-1]), texts)] = value
    return data


def _existing_key(node: dict, part: str, path: str, texts: dict | None) -> Any:
    """The key of `node` that override part `part` names: itself, or a key YAML read as a number whose text it
    is (`midtrain.stages.010.lr` reaches the stage written `010:`, which YAML reads as 8)."""
    if part in node:
        return part
    for k in node:
        if not isinstance(k, str) and ((texts or {}).get((path, k)) == part or (not texts and str(k) == part)):
            return k
    return part


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
