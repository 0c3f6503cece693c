"""Requests that arrive without trace context: the server starts the trace (or continues a
W3C traceparent), so one call is one tree, whoever sent it."""

from __future__ import annotations

import msgspec
import trio

from actorbus import App
from actorbus._runtime.spans import Span
from actorbus._transport.base import Message
from actorbus._transport.memory import MemoryBus
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects
from actorbus._wire.tracecontext import format_traceparent, parse_traceparent

from .actors import Audit, Back, Files, Users
from .conftest import SpanListener


def only(spans: list[Span], **match: object) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


async def test_a_caller_that_sends_no_trace_gets_one_tree(plane: str) -> None:
    bus = MemoryBus()
    async with App(Back(), Users(), Files(), Audit(), bus=bus, plane=plane) as servers:
        listener = SpanListener(bus.connect(), plane)
        await listener.start()
        # A second process that has not heard the tracer yet: it sends no trace id.
        async with App(bus=bus, plane=plane, hostname="cli.actorbus") as cli:
            cli.hub.tracer.enable(False)
            with trio.fail_after(10):
                await servers.hub.tracer.wait_listening()
                assert await cli.client(Users).delete(user_id="u1") == 1
                # server of /delete, 2 event client spans, 2 sinks, Files' call out and Back's
                spans = await listener.wait_for(7)
        await listener.stop()
    assert len({s.trace_id for s in spans}) == 1
    root = only(spans, parent_id=None)
    assert (root.side, root.to_host, root.path) == ("server", "users.test", "/delete")
    assert (root.from_host, root.from_instance) == ("cli.actorbus", cli.instance)
    events = [s for s in spans if s.kind == "event"]
    assert len(events) == 2 and all(e.parent_id == root.span_id for e in events)
    sinks = [s for s in spans if s.kind == "sink"]
    assert {s.parent_id for s in sinks} == {e.span_id for e in events}


async def test_a_w3c_traceparent_is_continued(plane: str) -> None:
    bus = MemoryBus()
    upstream_trace, upstream_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with App(Back(), bus=bus, plane=plane) as app:
        listener = SpanListener(bus.connect(), plane)
        await listener.start()
        raw = bus.connect()  # a plain NATS client: builds the frame itself, no actorbus ids
        replies: list[bytes] = []
        got = trio.Event()

        def on_reply(msg: Message) -> None:
            replies.append(msg.data)
            got.set()

        await raw.subscribe("inbox.raw.*", on_reply)
        frame = _frames.Request(
            msg_id="1",
            from_host="gateway.example",
            from_instance="gw1",
            host="back.test",
            port=443,
            method="POST",
            path="/double",
            depth=1,
            budget_ms=5000,
            body=_frames.encode_body({"n": 4}),
            traceparent=format_traceparent(upstream_trace, upstream_span),
        )
        subject = _subjects.request_subject(
            plane, 443, "back.test", "POST", "/double", source="gateway.example"
        )
        with trio.fail_after(10):
            await app.hub.tracer.wait_listening()
            raw.publish(subject, _frames.encode(frame), reply="inbox.raw.1")
            await got.wait()
            spans = await listener.wait_for(1)
        await listener.stop()
    reply = _frames.decode(replies[-1])
    assert isinstance(reply, _frames.Response)
    assert msgspec.msgpack.decode(reply.body) == 8
    span = only(spans, side="server")
    assert (span.trace_id, span.parent_id) == (upstream_trace, upstream_span)
    assert span.from_host == "gateway.example"


def test_traceparent_parsing() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(good) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert parse_traceparent(good.upper()) == parse_traceparent(good)
    for bad in (
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        good + "-extra",
    ):
        assert parse_traceparent(bad) is None, bad
    later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"
    assert parse_traceparent(later) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
