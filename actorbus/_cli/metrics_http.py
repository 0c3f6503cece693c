"""``actorbus run --metrics HOST:PORT``: serves ``GET /metrics`` (Prometheus text format).

One small HTTP/1.1 server per process, on Trio with h11: each connection gets one response and
is closed. With ``--workers N`` each worker process serves its own metrics, on consecutive
ports from PORT (worker ``w1`` on PORT, ``w2`` on PORT+1, ...); the supervisor runs no actors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import h11
import trio

__all__ = ["MetricsAddressError", "parse_address", "serve_metrics"]

log = logging.getLogger("actorbus.metrics")

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_MAX_HEAD: Final = 16 * 1024
_HEAD_TIMEOUT: Final = 10.0


class MetricsAddressError(ValueError):
    """``--metrics`` names an address that cannot be served."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` means 127.0.0.1; ``[::1]:PORT`` for IPv6) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise MetricsAddressError(f"--metrics {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    return (host.strip("[]") or "127.0.0.1"), int(port)


async def serve_metrics(
    render: Callable[[], bytes],
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``render()`` on ``http://host:port/metrics`` until cancelled; reports the port."""
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise MetricsAddressError(
            f"--metrics {host}:{port}: cannot listen ({exc.strerror or exc})"
        ) from None
    bound = listeners[0].socket.getsockname()[1]
    log.info("Prometheus metrics on http://%s:%d/metrics", host, bound)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await _answer(stream, render)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError) as exc:
            log.debug("metrics connection ended: %r", exc)
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


async def _answer(stream: trio.SocketStream, render: Callable[[], bytes]) -> None:
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
    if request.method not in (b"GET", b"HEAD"):
        status, body, ctype = 405, b"method not allowed\n", "text/plain"
    elif path == b"/metrics":
        status, body, ctype = 200, render(), CONTENT_TYPE
    else:
        status, body, ctype = 404, b"not found: try /metrics\n", "text/plain"
    headers = [("content-type", ctype), ("content-length", str(len(body))), ("connection", "close")]
    data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    if request.method != b"HEAD":
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)
