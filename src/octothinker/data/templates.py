"""Record -> training text: one template per kind (web, qa, chat) plus a per-source field mapping.

A field mapping names, for each role a template needs, the record field that holds it (dotted paths
index into nested dicts and lists, e.g. `generations.0`). A missing or mistyped field raises
`FieldError` naming the field; the reader adds the file and line.
"""
from __future__ import annotations

from typing import Any, Mapping

KINDS = ("web", "qa", "chat")

DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "web": {"text": "text"},
    "qa": {"problem": "problem", "solution": "solution"},
    "chat": {"messages": "messages"},
}

ROLE_NAMES = {"user": "User", "human": "User", "assistant": "Assistant", "gpt": "Assistant", "system": "System"}


class FieldError(ValueError):
    """A record lacks a field the template needs, or the field has the wrong type."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.message = message


def get_field(record: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path (`a.b.0`) through dicts and lists; FieldError when a step is missing."""
    value: Any = record
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value or value[part] is None:
                raise FieldError(path, "missing")
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit():
            idx = int(part)
            if not -len(value) <= idx < len(value):
                raise FieldError(path, f"index {idx} out of range (list of {len(value)})")
            value = value[idx]
        else:
            raise FieldError(path, f"cannot index {type(value).__name__} with {part!r}")
    return value


def _text(record: Mapping[str, Any], path: str) -> str:
    value = get_field(record, path)
    if not isinstance(value, str):
        raise FieldError(path, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise FieldError(path, "empty string")
    return value


def format_web(record: Mapping[str, Any], fields: Mapping[str, str]) -> str:
    return _text(record, fields["text"])


def format_qa(record: Mapping[str, Any], fields: Mapping[str, str]) -> str:
    problem = _text(record, fields["problem"])
    solution = _text(record, fields["solution"])
    return f"Question: {problem}\nAnswer: {solution}"


def format_chat(record: Mapping[str, Any], fields: Mapping[str, str]) -> str:
    path = fields["messages"]
    turns = get_field(record, path)
    if not isinstance(turns, (list, tuple)):
        raise FieldError(path, f"expected a list of turns, got {type(turns).__name__}")
    if not turns:
        raise FieldError(path, "empty conversation")
    lines = []
    for i, turn in enumerate(turns):
        where = f"{path}.{i}"
        if not isinstance(turn, Mapping):
            raise FieldError(where, f"expected a {{role, content}} object, got {type(turn).__name__}")
        role = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        if not isinstance(role, str) or role.lower() not in ROLE_NAMES:
            raise FieldError(f"{where}.role", f"unknown role {role!r} (expected user/assistant/system)")
        if not isinstance(content, str):
            raise FieldError(f"{where}.content", f"expected a string, got {type(content).__name__}")
        lines.append(f"{ROLE_NAMES[role.lower()]}: {content}")
    return "\n".join(lines)


FORMATTERS = {"web": format_web, "qa": format_qa, "chat": format_chat}


def render(kind: str, record: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> str:
    """Format one record as training text with the template of `kind`."""
    if kind not in FORMATTERS:
        raise ValueError(f"unknown template kind {kind!r}; expected one of {', '.join(KINDS)}")
    mapping = dict(DEFAULT_FIELDS[kind])
    mapping.update(fields or {})
    return FORMATTERS[kind](record, mapping)
