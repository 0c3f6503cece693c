"""Route patterns (pure): path arguments ``/items/{id}``, a greedy last ``{rest...}``, the
method ``ANY`` and port 0 (any port).

A pattern route subscribes with wildcards (``{id}`` is ``*``, ``{rest...}`` is ``>``, port 0
and ANY are ``*``: see `subjects.subscription_subject`), so dispatch stays by subject; these
functions check that a request's own fields fit the route it arrived on, pick the most
specific of an actor's routes for it, and read the arguments out of its path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from . import subjects as _subjects

__all__ = [
    "ANY_METHOD",
    "ANY_PORT",
    "best_route",
    "dispatch",
    "fill_path",
    "is_pattern",
    "match_path",
    "parse_pattern",
    "path_params",
    "route_matches",
]

ANY_METHOD: Final = "ANY"
ANY_PORT: Final = 0
GREEDY: Final = "..."

Route = tuple[str, int, str, str]  # (host, port, method, path)
Segment = tuple[str, str]  # ("lit", text) | ("one", name) | ("rest", name)


def is_pattern(path: str) -> bool:
    return "{" in path or "}" in path


def parse_pattern(path: str) -> list[Segment]:
    """``/items/{id}/{rest...}`` → its segments; ValueError for a malformed pattern (a brace
    inside a segment, a name that is not an identifier, a name twice, a greedy one not last)."""
    segments = path.removeprefix("/").split("/")
    out: list[Segment] = []
    seen: set[str] = set()
    for i, seg in enumerate(segments):
        if not (seg.startswith("{") and seg.endswith("}")):
            if "{" in seg or "}" in seg:
                raise ValueError(f"path {path!r}: {seg!r} must be a whole segment like {{name}}")
            out.append(("lit", seg))
            continue
        name, kind = seg[1:-1], "one"
        if name.endswith(GREEDY):
            name, kind = name[: -len(GREEDY)], "rest"
            if i != len(segments) - 1:
                raise ValueError(f"path {path!r}: {{{name}...}} must be the last segment")
        if not name.isidentifier():
            raise ValueError(f"path {path!r}: {seg!r} needs a parameter name, like {{id}}")
        if name in seen:
            raise ValueError(f"path {path!r}: {{{name}}} appears twice")
        seen.add(name)
        out.append((kind, name))
    return out


def path_params(path: str) -> list[str]:
    """The argument names a route's path carries (empty for a literal path)."""
    return [name for kind, name in parse_pattern(path) if kind != "lit"] if is_pattern(path) else []


def match_path(pattern: str, path: str) -> dict[str, str] | None:
    """The path arguments when ``path`` fits ``pattern``, else None (literals match exactly;
    ``{rest...}`` takes one or more remaining segments, slashes included)."""
    if not is_pattern(pattern):
        return {} if pattern == path else None
    parts = path.removeprefix("/").split("/")
    args: dict[str, str] = {}
    segments = parse_pattern(pattern)
    for i, (kind, text) in enumerate(segments):
        if kind == "rest":
            if i >= len(parts):
                return None
            args[text] = "/".join(parts[i:])
            return args
        if i >= len(parts):
            return None
        if kind == "lit" and parts[i] != text:
            return None
        if kind == "one":
            args[text] = parts[i]
    return args if len(parts) == len(segments) else None


def route_matches(route: Route, fields: Route) -> dict[str, str] | None:
    """The path arguments when a request's (host, port, method, path) fits ``route``."""
    host, port, method, path = route
    if fields[0] != host or port not in (ANY_PORT, fields[1]):
        return None
    if method not in (ANY_METHOD, fields[2]):
        return None
    return match_path(path, fields[3])


def _specificity(route: Route) -> tuple[int, int, int, int]:
    """Higher is more specific: literal segments, no greedy tail, exact method, exact port."""
    path = route[3]
    segments = parse_pattern(path) if is_pattern(path) else [("lit", s) for s in path.split("/")]
    literal = sum(1 for kind, _ in segments if kind == "lit")
    greedy = any(kind == "rest" for kind, _ in segments)
    return literal, not greedy, route[2] != ANY_METHOD, route[1] != ANY_PORT


def best_route(routes: Collection[Route], fields: Route) -> Route | None:
    """The most specific route that ``fields`` fits (an exact route first), or None."""
    if fields in routes:
        return fields
    fitting = [r for r in routes if route_matches(r, fields) is not None]
    return max(fitting, key=_specificity) if fitting else None


def dispatch(
    routes: Mapping[Route, Any], fields: Route, subject: str, plane: str, source: str
) -> Route | None:
    """The route serving a request from ``source`` that arrived on ``subject`` but is not that
    subscription's literal route: only when ``subject`` is exactly where a request with these
    fields is published, and the chosen route's own subscription covers ``subject``."""
    host, port, method, path = fields
    if not _subjects.request_matches(subject, plane, port, host, method, path, source=source):
        return None
    route = best_route(routes, fields)
    if route is None:
        return None
    pattern = _subjects.subscription_subject(plane, route[1], route[0], route[2], route[3])
    return route if _subjects.matches(pattern, subject) else None


def fill_path(pattern: str, values: Mapping[str, Any]) -> str:
    """The request path of a pattern route for these argument values (the caller's side);
    ValueError when a one-segment value holds a slash or a value is missing."""
    if not is_pattern(pattern):
        return pattern
    out: list[str] = []
    for kind, text in parse_pattern(pattern):
        if kind == "lit":
            out.append(text)
            continue
        if text not in values:
            raise ValueError(f"path {pattern!r} needs the argument {text!r}")
        value = values[text]
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, str):
            value = str(value)
        if kind == "one" and "/" in value:
            raise ValueError(f"argument {text!r} of {pattern!r} may not contain '/'")
        out.append(value)
    return "/" + "/".join(out)
