"""Reading an HTTP request into a bus call: the target, the arguments, the time budget.

Each function raises `Refused` with the HTTP status and a one-line reason; nothing here talks
to the bus.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
import trio

from .._wire.argtext import parse_text_value
from .._wire.subjects import validate_hostname
from .options import DEFAULT_PORT, IngressOptions

__all__ = ["Refused", "arguments", "budget_of", "header", "read_body", "split_target"]


class Refused(Exception):
    """The request cannot become a call: ``status``, an error ``kind`` and a message."""

    def __init__(self, status: int, kind: str, message: str, allow: list[str] | None = None):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.allow = allow or []


def header(scope: dict[str, Any], name: bytes) -> str:
    """The first value of a request header (lower-case ``name``), or ``""``."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def split_target(path: str, options: IngressOptions) -> tuple[str, int, str]:
    """``/<hostname>[:<port>]/<path>`` → (host, port, /path); 404 for what cannot be a target
    or a port the firewall keeps closed."""
    first, _, rest = path.lstrip("/").partition("/")
    host, sep, port_text = first.partition(":")
    port = DEFAULT_PORT
    if sep:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise Refused(404, "NotFound", f"{first!r} is not HOSTNAME[:PORT]")
        port = int(port_text)
    try:
        validate_hostname(host)
    except ValueError:
        raise Refused(404, "NotFound", f"{host!r} is not a hostname") from None
    if not options.port_open(port):
        raise Refused(404, "NotFound", f"port {port} is not open on this ingress")
    return host, port, "/" + rest


async def read_body(scope: dict[str, Any], receive: Any, options: IngressOptions) -> bytes:
    """The whole body: 413 past ``max_body`` (from Content-Length before reading anything),
    408 when it takes longer than ``body_timeout`` to arrive."""
    length = header(scope, b"content-length")
    if length.isdigit() and int(length) > options.max_body:
        raise _too_large(options)
    chunks: list[bytes] = []
    size = 0
    with trio.move_on_after(options.body_timeout) as scope_timer:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "BadRequest", "the client went away while sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > options.max_body:
                raise _too_large(options)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    if scope_timer.cancelled_caught:
        raise Refused(408, "RequestTimeout", f"the body took over {options.body_timeout:g} s")
    return b"".join(chunks)


def _too_large(options: IngressOptions) -> Refused:
    return Refused(413, "PayloadTooLarge", f"the body is over {options.max_body} bytes")


def arguments(body: bytes, query: bytes, handler: dict[str, Any] | None) -> dict[str, Any]:
    """The call's keyword arguments: the JSON object body, then the query string on top
    (each value typed by the parameter's schema; a repeated key makes a list)."""
    args: dict[str, Any] = {}
    if body.strip():
        try:
            parsed = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise Refused(400, "BadRequest", f"the body is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise Refused(400, "BadRequest", "the body must be a JSON object of arguments")
        args.update(parsed)
    if query:
        schemas: dict[str, Any] = {}
        if handler is not None:
            schemas = handler.get("arguments", {}).get("properties", {}) or {}
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
        grouped: dict[str, list[str]] = {}
        for key, value in pairs:
            grouped.setdefault(key, []).append(value)
        for key, values in grouped.items():
            schema = schemas.get(key)
            schema = schema if isinstance(schema, dict) else None
            first = parse_text_value(values[0], schema)
            if len(values) == 1 and (not _is_array(schema) or isinstance(first, list)):
                args[key] = first
            else:
                items = schema.get("items") if schema is not None else None
                items = items if isinstance(items, dict) else None
                args[key] = [parse_text_value(v, items) for v in values]
    return args


def _is_array(schema: dict[str, Any] | None) -> bool:
    return schema is not None and schema.get("type") == "array"


def budget_of(scope: dict[str, Any], options: IngressOptions, max_budget: float) -> float:
    """Seconds from the ``Request-Timeout`` header (default ``options.default_budget``),
    capped by the App's ``max_budget``; 400 when the header is not a positive number."""
    text = header(scope, b"request-timeout").strip()
    if not text:
        return min(options.default_budget, max_budget)
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise Refused(400, "BadRequest", f"Request-Timeout {text!r}: expected seconds > 0")
    return min(seconds, max_budget)
