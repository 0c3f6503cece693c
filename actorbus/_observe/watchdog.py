"""Names a handler that blocks Trio's scheduler (``time.sleep`` in an ``async def``).

A blocked scheduler stalls every actor of the process: acks, pings and other calls wait, so
callers see `AckTimeout` and ``actorbus ping`` misses the actor, while nothing is logged. A
heartbeat task stamps the time on every beat; a watcher thread notices a stamp older than the
threshold, looks at the Trio thread's current stack (``sys._current_frames``: no cost on the
hot path) and, when it is inside a handler of a known actor, logs one line naming the actor
and the handler and suggesting a plain ``def`` or ``trio.to_thread``. One line per stall.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import CodeType, FrameType
from typing import Any

import trio

__all__ = ["DEFAULT_BLOCK_WARNING", "Watchdog"]

log = logging.getLogger("actorbus.watchdog")

#: Seconds the scheduler may be blocked before the watchdog names the handler.
DEFAULT_BLOCK_WARNING = 1.0


class Watchdog:
    """One per App: ``await nursery.start(dog.heartbeat)``, ``dog.stop()`` before leaving."""

    def __init__(self, threshold: float, actors: Callable[[], Iterable[Any]]) -> None:
        self.threshold = threshold
        self._actors = actors
        self._beat = time.monotonic()
        self._stopped = threading.Event()
        self._scope = trio.CancelScope()
        self._thread: threading.Thread | None = None
        self._trio_thread = 0

    async def heartbeat(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._trio_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="actorbus-watchdog", daemon=True)
        self._thread.start()
        task_status.started()
        with self._scope:
            while True:
                self._beat = time.monotonic()
                await trio.sleep(self.threshold / 4)

    def stop(self) -> None:
        self._stopped.set()
        self._scope.cancel()

    def _watch(self) -> None:
        reported = False
        while not self._stopped.wait(self.threshold / 4):
            blocked = time.monotonic() - self._beat
            if blocked <= self.threshold:
                reported = False
            elif not reported:
                reported = self._report(blocked)

    def _report(self, blocked: float) -> bool:
        """Log the line if the Trio thread is inside a known handler; True once logged."""
        frame = sys._current_frames().get(self._trio_thread)
        handlers = _handler_codes(self._actors())
        while frame is not None:
            found = handlers.get(frame.f_code)
            if found is not None:
                host, name = found
                log.warning(
                    "%s: handler %s (an async def) has blocked the Trio scheduler for over "
                    "%.1f s at %s; every actor in this process waits meanwhile (acks, pings, other "
                    "calls). Make it a plain def (it then runs in a worker thread) or move the "
                    "blocking call into trio.to_thread.run_sync(...)",
                    host, name, blocked, _where(frame),
                )  # fmt: skip
                return True
            frame = frame.f_back
        return False


def _handler_codes(actors: Iterable[Any]) -> dict[CodeType, tuple[str, str]]:
    codes: dict[CodeType, tuple[str, str]] = {}
    for actor in list(actors):
        cls = type(actor)
        host = actor.host()
        for spec in (*cls._handlers, *cls._tickers):
            code = getattr(spec.func, "__code__", None)
            if code is not None:
                codes[code] = (host, spec.name)
        for hook in ("on_startup", "on_shutdown"):
            func: Any = getattr(cls, hook, None)
            code = getattr(func, "__code__", None)
            if code is not None and not func.__qualname__.startswith("Actor."):
                codes.setdefault(code, (host, hook))
    return codes


def _where(frame: FrameType | None) -> str:
    if frame is None:
        return "?"
    return f"{frame.f_code.co_filename.rpartition('/')[2]}:{frame.f_lineno}"
