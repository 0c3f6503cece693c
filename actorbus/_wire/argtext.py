"""Arguments given as text (``actorbus call key=value``, an HTTP query string), typed by the
parameter's JSON Schema: ``n=5`` is 5 for an integer, ``"5"`` for a string (pure)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["accepted_types", "json_type", "parse_text_value"]

_JSON_TYPES: Final[dict[type, str]] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
    list: "array",
    dict: "object",
}


def accepted_types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema accepts; None when it does not say (any value)."""
    if "anyOf" in schema:
        out: set[str] = set()
        for option in schema["anyOf"]:
            inner = accepted_types(option)
            if inner is None:
                return None
            out |= inner
        return out
    if "$ref" in schema:
        return {"object"}
    if "enum" in schema:
        return {_JSON_TYPES.get(type(v), "string") for v in schema["enum"]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    return None


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "object")


def parse_text_value(text: str, schema: dict[str, Any] | None) -> Any:
    """JSON when it parses, else the text; the text too when the parameter is a string and the
    JSON would be another type (``user_id=5`` is ``"5"`` for a ``str``)."""
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text
    accepted = accepted_types(schema) if schema is not None else None
    if accepted is None:
        return value
    kind = json_type(value)
    if kind in accepted or (kind == "integer" and "number" in accepted):
        return value
    return text if "string" in accepted else value
