"""Tracing over a real embedded nats-server: spans cross processes' connections, and nothing is
published while no tracer listens."""

from __future__ import annotations

import pytest
import trio

from actorbus import App
from actorbus._app import open_bus
from actorbus._observe.spans import span_wildcard
from actorbus._tracer.websocket import TracerServer, serve_tracer
from actorbus._transport.base import Message

from .actors import Back, Front
from .wsutil import spans, ws_client

pytestmark = pytest.mark.nats


async def test_spans_reach_a_standalone_tracer(nats_url: str, plane: str) -> None:
    async with (
        App(Back(), Front(), bus=nats_url, plane=plane, grace=1.0) as app,
        trio.open_nursery() as nursery,
    ):
        with trio.fail_after(20):
            server: TracerServer = await nursery.start(
                lambda task_status: serve_tracer(
                    nats_url, "127.0.0.1:0", plane=plane, task_status=task_status
                )
            )
            async with ws_client(server, app) as ws:
                assert await app.client(Front).quad(n=2) == 8
                got = await spans(ws, 6)
        nursery.cancel_scope.cancel()
    assert len({s["trace_id"] for s in got}) == 1
    assert {(s["side"], s["to_host"]) for s in got} == {
        ("client", "front.test"),
        ("server", "front.test"),
        ("client", "back.test"),
        ("server", "back.test"),
    }


async def test_no_tracer_means_no_span_traffic(nats_url: str, plane: str) -> None:
    seen: list[str] = []
    sentinel = trio.Event()

    def spy(msg: Message) -> None:
        seen.append(msg.subject)
        if msg.subject.endswith(".sentinel"):
            sentinel.set()

    async with open_bus(nats_url) as other:
        await other.subscribe(span_wildcard(plane), spy)
        await other.flush()
        async with App(Back(), Front(), bus=nats_url, plane=plane, grace=1.0) as app:
            with trio.fail_after(20):
                for n in range(50):
                    assert await app.client(Front).quad(n=n) == 4 * n
                # NATS keeps one connection's order: once the sentinel is in, nothing else was
                app.transport.publish(f"{plane}.trace.zz.sentinel", b"")
                await sentinel.wait()
    assert seen == [f"{plane}.trace.zz.sentinel"]
