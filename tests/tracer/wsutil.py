"""Websocket and HTTP helpers for the tracer tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11
import trio
import trio_websocket

from actorbus import App
from actorbus._tracer.websocket import TracerServer
from actorbus._transport.memory import MemoryBus


@asynccontextmanager
async def tracer_app(
    plane: str, *actors: Any, queue_size: int = 256
) -> AsyncIterator[tuple[App, TracerServer]]:
    """An App on a memory bus and a tracer server on port 0 watching the same bus."""
    bus = MemoryBus()
    async with App(*actors, bus=bus, plane=plane, grace=1.0) as app, trio.open_nursery() as n:
        server = TracerServer(bus.connect(), plane, queue_size=queue_size)
        await n.start(server.serve, "127.0.0.1", 0)
        try:
            yield app, server
        finally:
            n.cancel_scope.cancel()


@asynccontextmanager
async def ws_client(
    server: TracerServer, app: App, query: str = "", **kwargs: Any
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A websocket client attached (hello received, and the hub already knows)."""
    url = f"ws://127.0.0.1:{server.port}/ws{query}"
    async with trio_websocket.open_websocket_url(url, **kwargs) as ws:
        hello = json.loads(await ws.get_message())
        assert hello["notice"] == "hello"
        await app.hub.spans.wait_listening()
        yield ws


async def next_span(ws: trio_websocket.WebSocketConnection) -> dict[str, Any]:
    """The next span message, skipping notices."""
    while True:
        msg = json.loads(await ws.get_message())
        if "span_id" in msg:
            return msg  # type: ignore[no-any-return]


async def spans(ws: trio_websocket.WebSocketConnection, n: int) -> list[dict[str, Any]]:
    return [await next_span(ws) for _ in range(n)]


async def http(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole response (the server closes), parse it with h11."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(raw)
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        conn.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, headers, body
