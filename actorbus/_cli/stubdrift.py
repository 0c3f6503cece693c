"""Drift between an API module and the running hosts, from their descriptions. Pure.

Schemas are compared in `canonical` form (``$ref``s inlined, titles and descriptions dropped), so
a type named otherwise or documented differently is no drift; a different wire format is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .describe import schema_type

__all__ = ["canonical", "drift"]


def canonical(schema: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """A schema with its ``$ref``s inlined and its titles and descriptions dropped, so that two
    descriptions of the same wire format compare equal whatever their types are named."""
    if isinstance(schema, list):
        return [canonical(s, defs, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rpartition("/")[2]
        if name in seen or name not in defs:
            return {"$ref": name}
        return canonical(defs[name], defs, seen | {name})
    skip = {"title", "description", "$defs", "discriminator"}
    return {k: canonical(v, defs, seen) for k, v in schema.items() if k not in skip}


def _handlers(desc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(h.get("name")): h
        for h in desc.get("handlers", [])
        if h.get("kind") in ("endpoint", "event")
    }


def _route(h: dict[str, Any]) -> str:
    return f"{h.get('method')} :{h.get('port')}{h.get('path')}"


def drift(
    module: str, declared: Sequence[dict[str, Any]], running: Sequence[dict[str, Any]]
) -> list[str]:
    """One line per difference between a module's API classes (``declared``, described as
    hosts describe themselves) and the ``running`` hosts' descriptions; empty when they match."""

    out: list[str] = []
    live = {str(d.get("host")): d for d in running}
    for desc in declared:
        host = str(desc.get("host"))
        if host not in live:
            out.append(f"{host}: declared in {module}, but no running host answers")
            continue
        mine, theirs = _handlers(desc), _handlers(live[host])
        for name, h in theirs.items():
            if name not in mine:
                out.append(f"{host}: {h.get('kind')} {name} ({_route(h)}) is not in {module}")
        for name, h in mine.items():
            other = theirs.get(name)
            if other is None:
                out.append(f"{host}: {h.get('kind')} {name} ({_route(h)}) is no longer served")
                continue
            where = f"{host}: {name}"
            if h.get("kind") != other.get("kind") or _route(h) != _route(other):
                out.append(
                    f"{where}: {module} has {h.get('kind')} {_route(h)}, the host serves "
                    f"{other.get('kind')} {_route(other)}"
                )
                continue
            out.extend(_argument_drift(where, module, h, other))
            a = canonical(h.get("returns", {}), h.get("$defs", {}))
            b = canonical(other.get("returns", {}), other.get("$defs", {}))
            if a != b:
                path, x, y = _diff_at(a, b, "")
                out.append(
                    f"{where}: returns{' ' + path if path else ''}: {x} in {module}, {y} on the bus"
                )
    return out


def _argument_drift(
    where: str, module: str, mine: dict[str, Any], theirs: dict[str, Any]
) -> list[str]:

    a_args, b_args = dict(mine.get("arguments", {})), dict(theirs.get("arguments", {}))
    a_props, b_props = a_args.get("properties", {}), b_args.get("properties", {})
    a_req, b_req = set(a_args.get("required", [])), set(b_args.get("required", []))
    out = []
    if list(a_props) != list(b_props):
        out.append(f"{where}: arguments {list(a_props)} in {module}, {list(b_props)} on the bus")
        return out
    for name in a_props:
        a = canonical(a_props[name], mine.get("$defs", {}))
        b = canonical(b_props[name], theirs.get("$defs", {}))
        if (name in a_req) != (name in b_req):
            state = "required" if name in a_req else "optional"
            out.append(f"{where}: argument {name!r} is {state} in {module}, not on the bus")
        elif a != b:
            path, x, y = _diff_at(a, b, name)
            out.append(f"{where}: argument {path!r}: {x} in {module}, {y} on the bus")
    return out


def _diff_at(a: Any, b: Any, path: str) -> tuple[str, str, str]:
    """Where two canonical schemas first differ (``p.x``, ``[]``), and each side there."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            x, y = a.get(key), b.get(key)
            if x == y:
                continue
            if key == "properties" and isinstance(x, dict) and isinstance(y, dict):
                name = next(n for n in dict.fromkeys([*x, *y]) if x.get(n) != y.get(n))
                return _diff_at(x.get(name), y.get(name), f"{path}.{name}".lstrip("."))
            if key in ("items", "additionalProperties") and isinstance(x, dict | bool):
                return _diff_at(x, y, path + ("[]" if key == "items" else "{}"))
            if key in ("required", "default"):
                return path, _shown(key, x), _shown(key, y)
            break
    return path, _shown("type", a), _shown("type", b)


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "absent" if key == "type" else f"no {key}"
    if key == "type":
        return schema_type(value) if isinstance(value, dict) else "absent"
    return f"{key} {json.dumps(value)}"
