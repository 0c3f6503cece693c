"""The tracer remembers (issue 25): a client that attaches later first gets the last N spans
that pass its filters, once each, then the live ones; the memory is bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from actorbus import App, RemoteError
from actorbus._tracer.history import History
from actorbus._tracer.websocket import TracerServer
from actorbus._transport.memory import MemoryBus

from .actors import Back


@asynccontextmanager
async def remembering(plane: str, history: int) -> AsyncIterator[tuple[App, TracerServer]]:
    bus = MemoryBus()
    async with App(Back(), bus=bus, plane=plane, grace=1.0) as app, trio.open_nursery() as n:
        server = TracerServer(bus.connect(), plane, history=history)
        await n.start(server.serve, "127.0.0.1", 0)
        with trio.fail_after(10):
            await app.hub.spans.wait_listening()  # listening with nobody attached
        try:
            yield app, server
        finally:
            n.cancel_scope.cancel()


async def _calls(app: App, server: TracerServer, n: int) -> None:
    """``n`` good calls and a failing one; returns once the tracer got their 2 spans each."""
    for i in range(n):
        assert await app.client(Back).double(n=i) == 2 * i
    with pytest.raises(RemoteError):
        await app.client(Back).broken()
    with trio.fail_after(10):
        while server.statistics().spans_received < 2 * (n + 1):
            await trio.testing.wait_all_tasks_blocked(cushion=0.01)  # spans are batched


async def _messages(ws: trio_websocket.WebSocketConnection, n: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.get_message()) for _ in range(n)]


async def test_a_late_client_gets_the_earlier_spans_then_live_ones(plane: str) -> None:
    async with remembering(plane, history=100) as (app, server):
        await _calls(app, server, 3)  # 4 calls: 8 spans (caller and handler side each)
        assert server.statistics().spans_received == 8
        url = f"ws://127.0.0.1:{server.port}/ws"
        with trio.fail_after(10):
            async with trio_websocket.open_websocket_url(url) as ws:
                hello, *earlier = await _messages(ws, 9)
                assert (hello["notice"], hello["history"]) == ("hello", 8)
                assert sorted(s["path"] for s in earlier) == ["/broken"] * 2 + ["/double"] * 6
                assert await app.client(Back).double(n=9) == 18
                live = await _messages(ws, 2)
                ids = {s["span_id"] + s["side"] for s in earlier}
                assert [s["path"] for s in live] == ["/double"] * 2
                assert not ids & {s["span_id"] + s["side"] for s in live}

            async with trio_websocket.open_websocket_url(url + "?errors=1") as ws:
                hello, *errors = await _messages(ws, 3)
                assert hello["history"] == 2
                assert [s["status"] for s in errors] == [418, 418]


async def test_the_memory_is_bounded(plane: str) -> None:
    async with remembering(plane, history=4) as (app, server):
        await _calls(app, server, 5)
        url = f"ws://127.0.0.1:{server.port}/ws"
        with trio.fail_after(10):
            async with trio_websocket.open_websocket_url(url) as ws:
                hello, *earlier = await _messages(ws, 5)
        assert hello["history"] == 4
        # the newest four: both spans of the last call among them (the two sides' spans are
        # batched by different tasks, so their order within the last calls may vary)
        assert [s["path"] for s in earlier].count("/broken") == 2


def test_history_size_is_checked() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100000"):
        History(100_001)
    assert History(0).replay(lambda span: True, 10) == []
