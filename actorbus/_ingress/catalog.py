"""What the hosts behind the ingress serve: their ``:888/describe`` answers, briefly cached.

The ingress routes an HTTP request only to an endpoint a host describes (else 404 or 405) and
converts query arguments by that endpoint's JSON Schemas, as ``actorbus call`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
import trio

from .._runtime.errors import NoResponder, RemoteError
from .._wire.frames import EMPTY_BODY
from .._wire.routes import ANY_METHOD, ANY_PORT, best_route, match_path
from .options import CONTROL_PORT

__all__ = ["Catalog", "Route", "endpoints", "find_route"]

_decode: Final = msgspec.msgpack.decode


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes, and the endpoint's description (None: the host has none)."""

    host: str
    port: int
    method: str
    path: str
    handler: dict[str, Any] | None


def endpoints(desc: dict[str, Any]) -> list[dict[str, Any]]:
    """The described endpoints of one host (events and sinks are not reachable over HTTP)."""
    return [h for h in desc.get("handlers", []) if h.get("kind") == "endpoint"]


def find_route(
    desc: dict[str, Any], method: str, port: int, path: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the endpoint ``method :port/path`` reaches, or None; the methods that path allows)."""
    allowed: list[str] = []
    fitting = []
    for handler in endpoints(desc):
        if handler.get("port") not in (port, ANY_PORT):
            continue
        if match_path(str(handler.get("path")), path) is None:
            continue
        host, kind = str(desc.get("host")), str(handler.get("method"))
        route = (host, int(handler["port"]), kind, str(handler.get("path")))
        if handler.get("method") in (method, ANY_METHOD):
            fitting.append((route, handler))
        else:
            allowed.append(str(handler.get("method")))
    if fitting:  # the most specific, as the server picks it
        best = best_route([r for r, _ in fitting], (str(desc.get("host")), port, method, path))
        return next(h for r, h in fitting if r == best), []
    return None, sorted(set(allowed))


class Catalog:
    """Descriptions by host, each reused for ``ttl`` seconds (a redeploy shows within it)."""

    def __init__(self, app: Any, ttl: float) -> None:
        self.app = app
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._fetching: dict[str, trio.Event] = {}

    async def describe(self, host: str) -> dict[str, Any] | None:
        """The description of ``host``; None when it cannot describe itself. Raises
        `NoResponder` when nobody serves ``host``. Concurrent misses share one fetch, so a
        burst of first requests asks the host once, not once each."""
        while True:
            hit = self._cache.get(host)
            if hit is not None and trio.current_time() - hit[0] < self.ttl:
                return hit[1]
            fetching = self._fetching.get(host)
            if fetching is None:
                break
            await fetching.wait()
            if host not in self._cache:  # that fetch failed: its caller raised; so do we
                return await self._fetch(host)
        self._fetching[host] = done = trio.Event()
        try:
            return await self._fetch(host)
        finally:
            del self._fetching[host]
            done.set()

    async def _fetch(self, host: str) -> dict[str, Any] | None:
        now = trio.current_time()
        try:
            value = await self.app.caller.call(
                host, CONTROL_PORT, "GET", "/describe", EMPTY_BODY, _decode
            )
        except NoResponder:
            self._cache.pop(host, None)
            raise
        except RemoteError:  # an actor that cannot describe itself: call it without schemas
            value = None
        desc = value if isinstance(value, dict) else None
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[host] = (now, desc)
        return desc

    async def every_host(self) -> list[dict[str, Any]]:
        """One description per host that answers now (replicas describe the same class)."""
        by_host: dict[str, dict[str, Any]] = {}
        gathering = self.app.caller.multicast(
            "all", CONTROL_PORT, "GET", "/describe", EMPTY_BODY, _decode
        )
        async for reply in gathering:
            if reply.ok and isinstance(reply.value, dict):
                by_host.setdefault(str(reply.value.get("host")), reply.value)
        now = trio.current_time()
        for host, desc in by_host.items():
            self._cache[host] = (now, desc)
        return [by_host[h] for h in sorted(by_host)]
