"""``actorbus describe`` and what ``actorbus call`` learns from it: each actor's handlers with
their JSON Schemas, fetched from the control port (``:888/describe``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import msgspec

from .._wire.argtext import parse_text_value
from .common import EXIT_NO_RESPONDER, CliError

__all__ = [
    "check_route",
    "fetch_descriptions",
    "format_descriptions",
    "parse_pair",
    "schema_type",
]

#: A ``key=value`` value typed by the parameter's schema (shared with the HTTP ingress).
parse_pair = parse_text_value


async def fetch_descriptions(app: Any, host: str) -> list[dict[str, Any]]:
    """One description per host that answers (replicas of a host describe the same class)."""
    from .._wire.frames import EMPTY_BODY
    from .._wire.subjects import CONTROL_PORT

    by_host: dict[str, dict[str, Any]] = {}
    gathering = app.caller.multicast(
        host, CONTROL_PORT, "GET", "/describe", EMPTY_BODY, msgspec.msgpack.decode
    )
    async for reply in gathering:
        if reply.ok and isinstance(reply.value, dict):
            by_host.setdefault(str(reply.value.get("host")), reply.value)
    return [by_host[h] for h in sorted(by_host)]


def schema_type(schema: dict[str, Any]) -> str:
    """A short type name for a JSON Schema: ``string``, ``array of integer``, ``User | null``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rpartition("/")[2]
    if "anyOf" in schema:
        return " | ".join(schema_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {schema_type(schema['items'])}"
    if isinstance(kind, list):
        return " | ".join(map(str, kind))
    return str(kind) if kind else "any"


def _signature(handler: dict[str, Any]) -> str:
    args = handler.get("arguments", {})
    required = set(args.get("required", []))
    parts = []
    for name, schema in args.get("properties", {}).items():
        part = f"{name}: {schema_type(schema)}"
        if name not in required:
            part += f" = {msgspec.json.encode(schema.get('default')).decode()}"
        parts.append(part)
    return f"{handler.get('name')}({', '.join(parts)}) -> {schema_type(handler.get('returns', {}))}"


def _route(handler: dict[str, Any]) -> str:
    port = handler.get("port")
    return f"{handler.get('method')} :{'*' if port == 0 else port}{handler.get('path')}"


def format_descriptions(found: Sequence[dict[str, Any]]) -> str:
    """The human-readable listing of ``actorbus describe``."""
    lines: list[str] = []
    for desc in found:
        doc = str(desc.get("doc") or "").split("\n")[0]
        lines.append(f"{desc.get('host')}  v{desc.get('version')}" + (f"  {doc}" if doc else ""))
        for handler in desc.get("handlers", []):
            kind = handler.get("kind")
            where = _route(handler)
            if kind == "sink":
                where = f"{where} on {handler.get('host')}"
            tag = "" if kind == "endpoint" else f"  [{kind}]"
            lines.append(f"  {where:<32} {_signature(handler)}{tag}")
            first = str(handler.get("doc") or "").split("\n")[0]
            if first:
                lines.append(f"  {'':<32}   {first}")
        for tick in desc.get("tickers", []):
            where = f"every {tick.get('seconds'):g} s"
            doc = str(tick.get("doc") or "").split("\n")[0]
            lines.append(
                f"  {where:<32} {tick.get('name')}()  [{_ticker_tag(tick)}]"
                + (f"  {doc}" if doc else "")
            )
        for item in desc.get("config", []):
            schema = dict(item.get("schema") or {})
            default = msgspec.json.encode(schema.get("default")).decode()
            doc = str(item.get("doc") or "")
            what = f"{item.get('name')}: {schema_type(schema)} = {default}"
            lines.append(f"  {'config':<32} {what}" + (f"  {doc}" if doc else ""))
    return "\n".join(lines)


def check_route(desc: dict[str, Any], method: str, port: int, path: str) -> dict[str, Any]:
    """The endpoint that ``method :port/path`` reaches on the described host; a `CliError`
    (exit 3) with a hint when it reaches none."""
    host = desc.get("host")
    handlers: list[dict[str, Any]] = list(desc.get("handlers", []))
    endpoints = [h for h in handlers if h.get("kind") == "endpoint"]
    routes = [h for h in handlers if h.get("kind") in ("endpoint", "event")]
    same_path = [h for h in routes if _fits(h, path)]
    fitting = [h for h in same_path if h.get("port") in (port, 0)]
    fitting = [h for h in fitting if h.get("method") in (method, "ANY")]
    if fitting:  # the most specific, as the server picks it
        from .._wire.routes import best_route

        keys = [(str(host), int(h["port"]), str(h["method"]), str(h["path"])) for h in fitting]
        best = best_route(keys, (str(host), port, method, path))
        return fitting[keys.index(best)] if best in keys else fitting[0]
    if same_path:
        h = same_path[0]
        fixes = []
        if h.get("method") != method:
            fixes.append(f"--method {h.get('method')}")
        if h.get("port") != port:
            fixes.append(f"--port {h.get('port')}")
        raise CliError(
            f"{host} serves {h.get('method')} {_where(h)}; add {' '.join(fixes)}",
            EXIT_NO_RESPONDER,
        )
    known = ", ".join(f"{h.get('method')} {_where(h)}" for h in endpoints) or "no endpoints"
    raise CliError(f"{host} has no endpoint {path}; it serves: {known}", EXIT_NO_RESPONDER)


def _fits(handler: dict[str, Any], path: str) -> bool:
    """The handler's path is ``path``, or a pattern (``/items/{id}``) that ``path`` fits."""
    from .._wire.routes import match_path

    return match_path(str(handler.get("path")), path) is not None


def _where(handler: dict[str, Any]) -> str:
    port = handler.get("port")
    return str(handler.get("path")) if port == 443 else f":{port}{handler.get('path')}"


def print_json(value: Any) -> None:
    data = msgspec.json.encode(value)
    if sys.stdout.isatty():
        data = msgspec.json.format(data, indent=2)
    print(data.decode(), flush=True)


def _ticker_tag(tick: dict[str, Any]) -> str:
    return "ticker, one replica" if tick.get("singleton") is True else "ticker"
