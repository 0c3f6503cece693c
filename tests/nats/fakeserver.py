"""A small fake NATS server on loopback, for what a real nats-server never does on purpose:
INFO fields of the wrong type, dropping every client right after accepting it, PING floods.

Each accepted connection is handed to ``behave(stream, number)`` after the greeting; the server
records when each connection was accepted and wakes waiters on every new one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

Behave = Callable[[trio.SocketStream, int], Awaitable[None]]

GOOD_INFO: dict[str, Any] = {
    "server_id": "FAKE",
    "version": "2.10.0",
    "proto": 1,
    "headers": True,
    "max_payload": 1048576,
}


def info_line(**fields: Any) -> bytes:
    return b"INFO " + json.dumps({**GOOD_INFO, **fields}).encode() + b"\r\n"


class FakeServer:
    """Accepts connections, greets each with ``greeting(number)`` and answers the client's
    CONNECT + PING with PONG, then runs ``behave``."""

    def __init__(self, behave: Behave, greeting: Callable[[int], bytes] | None = None) -> None:
        self.behave = behave
        self.greeting = greeting or (lambda number: info_line())
        self.accepted: list[float] = []
        self.port = 0
        self._changed = trio.Event()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def wait_for(self, count: int) -> None:
        """Return once ``count`` connections were accepted."""
        while len(self.accepted) < count:
            await self._changed.wait()

    async def _serve(self, stream: trio.SocketStream) -> None:
        number = len(self.accepted)
        self.accepted.append(trio.current_time())
        self._changed.set()
        self._changed = trio.Event()
        try:
            async with stream:
                await stream.send_all(self.greeting(number))
                seen = b""
                while b"PING\r\n" not in seen:  # CONNECT {...}\r\nPING\r\n
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    seen += data
                await stream.send_all(b"PONG\r\n")
                await self.behave(stream, number)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def stay(stream: trio.SocketStream, number: int) -> None:
    """Behave like a quiet server: answer PINGs until the client goes."""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        for _ in range(data.count(b"PING\r\n")):
            await stream.send_all(b"PONG\r\n")


@asynccontextmanager
async def fake_server(
    behave: Behave, greeting: Callable[[int], bytes] | None = None
) -> AsyncIterator[FakeServer]:
    server = FakeServer(behave, greeting)
    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(
            partial(trio.serve_tcp, server._serve, 0, host="127.0.0.1")
        )
        server.port = listener.socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()
