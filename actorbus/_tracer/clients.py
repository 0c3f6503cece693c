"""One websocket client of the tracer: its filters and its bounded queue, and a rate limit for
the tracer's own log lines about refused clients."""

from __future__ import annotations

import logging
import urllib.parse
from collections import deque
from typing import Any

import trio

from .._observe.spans import Span

__all__ = ["Client", "Filter", "LogLimiter"]


class Filter:
    __slots__ = ("errors", "host", "trace_id")

    def __init__(self, query: str) -> None:
        params = urllib.parse.parse_qs(query)
        self.host = (params.get("host") or [""])[0].strip().lower()
        self.trace_id = (params.get("trace_id") or [""])[0].strip().lower()
        self.errors = (params.get("errors") or [""])[0].strip().lower() in {"1", "true", "yes"}

    def wants(self, span: Span) -> bool:
        if self.host and self.host != span.from_host and self.host != span.to_host:
            return False
        if self.trace_id and self.trace_id != span.trace_id:
            return False
        return not self.errors or span.error is not None or span.status >= 400

    def describe(self) -> dict[str, Any]:
        return {"host": self.host, "trace_id": self.trace_id, "errors": self.errors}


class Client:
    """One attached websocket: its filters, its bounded queue, what it missed.

    The queue holds at most ``size`` messages; when full, `offer` drops the oldest (counted in
    ``dropped``, told to the client in a notice) in constant time and without an exception, so
    that clients that do not read cost the others nothing."""

    __slots__ = ("_wake", "closed", "dropped", "filter", "queue", "total_dropped")

    def __init__(self, query: str, size: int) -> None:
        self.filter = Filter(query)
        self.queue: deque[str] = deque(maxlen=max(size, 1))
        self.dropped = 0
        self.total_dropped = 0
        self.closed = False
        self._wake = trio.Event()

    def offer(self, text: str) -> bool:
        """Queue one message; False when it pushed out an older one (or the client left)."""
        if self.closed:
            return False
        queue = self.queue
        full = len(queue) == queue.maxlen
        if full:
            self.dropped += 1
            self.total_dropped += 1
        queue.append(text)
        self._wake.set()
        return not full

    async def next(self) -> str | None:
        """The oldest queued message, waiting for one; None once closed."""
        while not self.queue:
            if self.closed:
                return None
            await self._wake.wait()
            self._wake = trio.Event()
        return self.queue.popleft()

    def close(self) -> None:
        self.closed = True
        self.queue.clear()
        self._wake.set()


class LogLimiter:
    """At most one line per ``interval`` seconds per kind of event; the next line says how many
    were left out, so 2,000 refused upgrades do not make 2,000 lines."""

    __slots__ = ("_last", "_log", "_missed", "interval")

    def __init__(self, log: logging.Logger, interval: float = 10.0) -> None:
        self._log = log
        self.interval = interval
        self._last: dict[str, float] = {}
        self._missed: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: Any) -> bool:
        """Log ``message % args`` unless ``kind`` was logged in the last ``interval``."""
        now = trio.current_time()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._missed[kind] = self._missed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        missed = self._missed.pop(kind, 0)
        if missed:
            message += f" (and {missed} more in the last %.0f s)"
            args = (*args, now - last if last is not None else self.interval)
        self._log.warning(message, *args)
        return True
