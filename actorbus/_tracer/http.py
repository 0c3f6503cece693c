"""The tracer's HTTP side, below the websocket: reading one request head with h11, one-shot
responses, the origin rule, and a stream that replays the head to trio-websocket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import h11
import trio

__all__ = ["Replay", "is_websocket", "origin_allowed", "read_head", "responder"]

MAX_HEAD: Final = 16 * 1024


class Replay(trio.abc.Stream):
    """A stream whose first bytes are the ones h11 already read (handed to trio-websocket)."""

    def __init__(self, stream: trio.SocketStream, head: bytes) -> None:
        self.stream = stream
        self._head = head

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._head:
            await trio.lowlevel.checkpoint()
            data, self._head = self._head, b""
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def origin_allowed(headers: Any, listen_host: str, port: int) -> bool:
    """No ``Origin`` (not a browser), or the page's own origin: ``http://`` + the ``Host``
    header; on a loopback-bound tracer the ``Host`` must name loopback too."""
    fields = {bytes(k).lower(): bytes(v).decode("latin-1").strip() for k, v in headers}
    origin = fields.get(b"origin")
    if origin is None:
        return True
    host = fields.get(b"host", "").lower()
    if origin.lower() != f"http://{host}":
        return False
    if listen_host in _LOOPBACK_NAMES:
        return host in {f"{name}:{port}" for name in _LOOPBACK_NAMES if name != "::1"}
    return True


def is_websocket(request: h11.Request) -> bool:
    for name, value in request.headers:
        if name == b"upgrade" and value.lower() == b"websocket":
            return True
    return False


async def read_head(
    stream: trio.SocketStream,
) -> tuple[h11.Connection, h11.Request | int, bytes] | None:
    """h11's view of the request head, and the raw bytes read so far (for a websocket to
    replay); an int status instead of the request when it is not valid HTTP."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    raw = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return conn, exc.error_status_hint, bytes(raw)
        if isinstance(event, h11.Request):
            return conn, event, bytes(raw)
        if event is not h11.NEED_DATA:
            return conn, 400, bytes(raw)
        data = await stream.receive_some(4096)
        if not data:
            return None
        raw += data
        conn.receive_data(data)


def responder(
    conn: h11.Connection, stream: trio.SocketStream
) -> Callable[[int, bytes, str], Awaitable[None]]:
    async def respond(status: int, body: bytes, ctype: str) -> None:
        """One complete HTTP/1.1 response serialised by h11; the connection then closes."""
        headers = [
            ("content-type", ctype),
            ("content-length", str(len(body))),
            ("connection", "close"),
            ("cache-control", "no-store"),
        ]
        data = conn.send(h11.Response(status_code=status, headers=headers)) or b""
        data += conn.send(h11.Data(data=body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(data)

    return respond
