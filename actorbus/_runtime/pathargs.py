"""Path arguments of endpoints (``@endpoint("GET /items/{id}")``): checked at definition, read
from the request's path on the server and typed by the handler's hints (issue 23).

The patterns themselves are pure (`actorbus._wire.routes`); this is the runtime's side.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final

import msgspec

from .._wire import routes as _routes
from .._wire.subjects import REQUEST_PORT, SubjectError, validate_method
from .errors import BadRequest

__all__ = [
    "best_route",
    "body_for",
    "check_path_params",
    "check_pattern",
    "endpoint_route",
    "fill",
    "merge_path_args",
    "request_route",
    "route_for",
]

#: The most specific of a server's routes for a request's (host, port, method, path).
best_route: Final = _routes.best_route

_encode: Final = msgspec.msgpack.encode
_decode: Final = msgspec.msgpack.decode


def endpoint_route(
    route: Any, fn: Callable[..., Any], parse: Callable[[Any, str, str], tuple[str, str]]
) -> tuple[str, str]:
    """An endpoint's (method, path): a route with ``{name}`` segments or the method ANY is
    checked here, any other by ``parse`` (the declarations' own route parser)."""
    name = fn.__qualname__
    parts = route.split() if isinstance(route, str) else []
    wild = parts and (_routes.is_pattern(parts[-1]) or parts[0].upper() == _routes.ANY_METHOD)
    if not wild or len(parts) > 2 or not parts[-1].startswith("/"):
        return parse(route, name, "POST")
    try:
        method = validate_method(parts[0]) if len(parts) == 2 else "POST"
    except SubjectError as exc:
        raise SubjectError(f"{name}: {exc}") from None
    path = check_pattern(parts[-1], name)
    check_path_params(fn, path)
    return method, path


def check_pattern(path: str, name: str) -> str:
    """An endpoint's path pattern (``/items/{id}``, ``/files/{rest...}``), checked now."""
    try:
        _routes.parse_pattern(path)
    except ValueError as exc:
        raise SubjectError(f"{name}: {exc}") from None
    return path


def check_path_params(fn: Callable[..., Any], path: str) -> None:
    """Each ``{name}`` of an endpoint's path must be one of its parameters."""
    params = list(inspect.signature(fn).parameters)[1:]
    for param in _routes.path_params(path):
        if param not in params:
            raise TypeError(f"{fn.__qualname__}: path {path!r} names {{{param}}}, not a parameter")


def merge_path_args(
    name: str, pattern: str, hints: dict[str, Any], path: str, body: bytes
) -> bytes:
    """The request body with the path's arguments added, each converted by its hint (``"42"``
    is 42 for an ``int``); a path argument wins over a body field of the same name."""
    found = _routes.match_path(pattern, path)
    if found is None:
        raise BadRequest(f"{name}: path {path!r} does not fit {pattern!r}")
    try:
        args = _decode(body) if body else {}
    except msgspec.DecodeError as exc:
        raise BadRequest(f"{name}: {exc}") from None
    if not isinstance(args, dict):
        raise BadRequest(f"{name}: the arguments must be a map")
    for key, text in found.items():
        hint = hints.get(key, Any)
        try:
            args[key] = text if hint is Any else msgspec.convert(text, hint, strict=False)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"{name}: path argument {key!r}: {exc}") from None
    return _encode(args)


# -- the server's hooks (kept here so that the receive path changes by three lines) --------


def route_for(
    routes: Any, fields: _routes.Route, msg: Any, hub: Any, source: str
) -> _routes.Route | None:
    """The pattern route serving a request that arrived on ``msg.subject`` whose fields are
    not its subscription's literal route; None when the frame disagrees with its subject."""
    return _routes.dispatch(routes, fields, msg.subject, hub.plane, source)


def body_for(spec: Any, frame: Any) -> bytes | msgspec.Raw:
    """The body a handler's arguments are decoded from: the request's (decoded in place, so
    a large body is not copied first), plus the path's arguments for a pattern route."""
    if "{" not in spec.path:
        raw: msgspec.Raw = frame.body
        return raw
    body = bytes(frame.body)
    hints = spec.signature.hints
    return merge_path_args(spec.name, spec.path, hints, frame.path, body)


# -- the caller's side (typed proxies) --------------------------------------------------------


def request_route(spec: Any) -> tuple[str, int, str | None]:
    """(method, port, path) a proxy sends an endpoint's calls to: ANY as POST, port 0 as 443;
    the path is None for a pattern route (`fill` builds it from each call's arguments)."""
    method = "POST" if spec.method == _routes.ANY_METHOD else spec.method
    port = REQUEST_PORT if spec.port == _routes.ANY_PORT else spec.port
    return method, port, None if _routes.is_pattern(spec.path) else spec.path


def fill(spec: Any, bound: msgspec.Struct) -> str:
    """The request path of a pattern route for one call's validated arguments."""
    values = {name: getattr(bound, name) for name in _routes.path_params(spec.path)}
    try:
        return _routes.fill_path(spec.path, values)
    except ValueError as exc:
        raise BadRequest(f"{spec.name}: {exc}") from None
