"""The small HTTP/1.1 server of ``actorbus run --metrics`` and ``--health``.

On Trio with h11: each connection gets one response to ``GET``/``HEAD`` of a fixed set of
paths, then is closed. ``--metrics HOST:PORT`` serves ``GET /metrics`` (Prometheus text
format); with ``--workers N`` each worker process serves its own metrics, on consecutive ports
from PORT (worker ``w1`` on PORT, ``w2`` on PORT+1, ...); the supervisor runs no actors.
``--health`` serves its probes through `serve_routes` too (see `health`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import h11
import trio

__all__ = ["MetricsAddressError", "Route", "parse_address", "serve_metrics", "serve_routes"]

log = logging.getLogger("actorbus.metrics")

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_MAX_HEAD: Final = 16 * 1024
_HEAD_TIMEOUT: Final = 10.0


#: One path's answer: () -> (status, body, content type).
Route = Callable[[], tuple[int, bytes, str]]


class MetricsAddressError(ValueError):
    """``--metrics`` (or ``--health``) names an address that cannot be served."""


def parse_address(text: str, option: str = "--metrics", example: int = 9464) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` means 127.0.0.1; ``[::1]:PORT`` for IPv6) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise MetricsAddressError(
            f"{option} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:{example}"
        )
    return (host.strip("[]") or "127.0.0.1"), int(port)


async def serve_metrics(
    render: Callable[[], bytes],
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``render()`` on ``http://host:port/metrics`` until cancelled; reports the port."""
    routes: dict[bytes, Route] = {b"/metrics": lambda: (200, render(), CONTENT_TYPE)}
    await serve_routes(
        routes, host, port, "--metrics", "Prometheus metrics", task_status=task_status
    )


async def serve_routes(
    routes: dict[bytes, Route],
    host: str,
    port: int,
    option: str,
    what: str,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer ``GET``/``HEAD`` of ``routes`` on ``host:port`` until cancelled; reports the
    port (``option`` and ``what`` name it in the error and the log line)."""
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise MetricsAddressError(
            f"{option} {host}:{port}: cannot listen ({exc.strerror or exc})"
        ) from None
    bound = listeners[0].socket.getsockname()[1]
    where = f"[{host}]" if ":" in host else host
    log.info("%s on %s", what, " and ".join(f"http://{where}:{bound}{p.decode()}" for p in routes))

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await _answer(stream, routes)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError) as exc:
            log.debug("%s connection ended: %r", option, exc)
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


async def _answer(stream: trio.SocketStream, routes: dict[bytes, Route]) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
    request: h11.Request | None = None
    with trio.move_on_after(_HEAD_TIMEOUT):
        while request is None:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                request = event
            elif event is h11.NEED_DATA:
                data = await stream.receive_some(4096)
                if not data:
                    return
                conn.receive_data(data)
            else:
                return
    if request is None:
        return
    path = request.target.split(b"?", 1)[0]
    route = routes.get(path)
    if request.method not in (b"GET", b"HEAD"):
        status, body, ctype = 405, b"method not allowed\n", "text/plain"
    elif route is not None:
        status, body, ctype = route()
    else:
        known = " or ".join(p.decode() for p in routes)
        status, body, ctype = 404, f"not found: try {known}\n".encode(), "text/plain"
    headers = [("content-type", ctype), ("content-length", str(len(body))), ("connection", "close")]
    data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    if request.method != b"HEAD":
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)
