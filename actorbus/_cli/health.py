"""``actorbus run --health HOST:PORT``: the probes a container orchestrator asks.

``GET /healthz`` answers 200 while the process lives (liveness). ``GET /readyz`` answers 200
once the process is connected to the bus and every actor (or every worker process) has
started, and 503 with the reason while it is starting, disconnected or draining (readiness:
take it out of rotation). Served by the same small HTTP server as ``--metrics``.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from .metrics_http import Route, serve_routes

__all__ = ["Readiness", "serve_health"]

_TEXT = "text/plain; charset=utf-8"


class Readiness:
    """Why the process is not ready (a short reason), or None when it is."""

    def __init__(self) -> None:
        self.check: Callable[[], str | None] = lambda: "starting"

    def reason(self) -> str | None:
        try:
            return self.check()
        except Exception as exc:  # a probe must answer, whatever the state looks like
            return f"cannot tell: {exc!r}"


async def serve_health(
    readiness: Readiness,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``/healthz`` and ``/readyz`` until cancelled; reports the port."""

    def ready() -> tuple[int, bytes, str]:
        reason = readiness.reason()
        if reason is None:
            return 200, b"ready\n", _TEXT
        return 503, f"not ready: {reason}\n".encode(), _TEXT

    routes: dict[bytes, Route] = {b"/healthz": lambda: (200, b"ok\n", _TEXT), b"/readyz": ready}
    await serve_routes(routes, host, port, "--health", "health probes", task_status=task_status)
