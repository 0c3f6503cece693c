"""Spans on the memory bus: ids, parents, kinds, fan-out, tickers, and silence without a tracer."""

from __future__ import annotations

import re

import trio

from actorbus import App
from actorbus._observe.spans import Span
from actorbus._transport.memory import MemoryBus
from actorbus._wire.frames import EMPTY_BODY

from .actors import Audit, Back, Files, Front, Ticking, Users
from .conftest import CountingTransport, SpanListener

TRACE_RE = re.compile(r"^[0-9a-f]{32}$")
SPAN_RE = re.compile(r"^[0-9a-f]{16}$")


def one(spans: list[Span], **match: object) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


async def test_call_chain_has_parent_child_ids(traced: tuple[App, SpanListener]) -> None:
    app, listener = traced
    await app.add(Back())
    await app.add(Front())
    with trio.fail_after(5):
        assert await app.client(Front).quad(n=3) == 12
        spans = await listener.wait_for(6)
    assert len({s.trace_id for s in spans}) == 1
    assert all(TRACE_RE.match(s.trace_id) and SPAN_RE.match(s.span_id) for s in spans)
    assert len({(s.span_id, s.side) for s in spans}) == 6
    root = one(spans, parent_id=None)
    assert (root.kind, root.side, root.from_host, root.to_host) == (
        "call",
        "client",
        "app.actorbus",
        "front.test",
    )
    front = one(spans, side="server", to_host="front.test")
    assert front.parent_id == root.span_id and front.path == "/quad"
    outs = [s for s in spans if s.side == "client" and s.from_host == "front.test"]
    assert len(outs) == 2 and all(s.parent_id == front.span_id for s in outs)
    backs = [s for s in spans if s.side == "server" and s.to_host == "back.test"]
    assert sorted(s.parent_id or "" for s in backs) == sorted(s.span_id for s in outs)
    assert all(s.status == 200 and s.error is None for s in spans)
    assert all(s.start > 1_600_000_000 * 10**9 and s.duration_ms >= 0 for s in spans)
    assert root.duration_ms >= front.duration_ms


async def test_errors_are_recorded_on_both_sides(traced: tuple[App, SpanListener]) -> None:
    app, listener = traced
    await app.add(Back())
    await app.add(Front())
    with trio.fail_after(5):
        try:
            await app.client(Front).fails()
        except Exception as exc:
            assert getattr(exc, "status", None) == 418
        spans = await listener.wait_for(4)
    assert len(spans) == 4
    assert all(s.status == 418 and s.error is not None for s in spans)
    back = one(spans, side="server", to_host="back.test")
    assert back.error is not None and back.error.type == "HTTPError"
    assert back.error.message == "teapot"


async def test_events_give_one_span_per_sink_reply(traced: tuple[App, SpanListener]) -> None:
    app, listener = traced
    files, audit = Files(), Audit()
    for actor in (Back(), Users(), files, audit):
        await app.add(actor)
    with trio.fail_after(5):
        assert await app.client(Users).delete(user_id="u1") == 1
        spans = await listener.wait_for(8)
    assert len(spans) == 8 and len({s.trace_id for s in spans}) == 1
    users = one(spans, side="server", to_host="users.test")
    events = [s for s in spans if s.kind == "event"]
    assert len(events) == 2
    assert all(e.side == "client" and e.parent_id == users.span_id for e in events)
    assert {e.to_instance for e in events} == {files.instance, audit.instance}
    sinks = [s for s in spans if s.kind == "sink"]
    assert {s.to_host for s in sinks} == {"files.test", "audit.test"}
    for s in sinks:
        event_span = one(events, to_instance=s.to_instance)
        assert s.parent_id == event_span.span_id and s.side == "server"
        assert s.from_host == "users.test" and s.path == "/on-deleted"
    failed = one(sinks, to_host="audit.test")
    assert failed.status == 500 and failed.error is not None
    assert failed.error.type == "ValueError"
    assert one(events, to_instance=audit.instance).status == 500
    files_sink = one(sinks, to_host="files.test")
    nested = one(spans, side="client", from_host="files.test")
    assert nested.parent_id == files_sink.span_id


async def test_fire_and_forget_event(traced: tuple[App, SpanListener]) -> None:
    app, listener = traced
    users = Users()
    for actor in (Back(), users, Files(), Audit()):
        await app.add(actor)
    with trio.fail_after(5):
        await users.on_deleted(user_id="u2")
        spans = await listener.wait_for(5)
    fired = one(spans, kind="event")
    assert (fired.status, fired.parent_id, fired.from_host) == (202, None, "users.test")
    sinks = [s for s in spans if s.kind == "sink"]
    assert len(sinks) == 2 and all(s.parent_id == fired.span_id for s in sinks)


async def test_control_calls_are_traced_as_control(traced: tuple[App, SpanListener]) -> None:
    app, listener = traced
    await app.add(Back())
    with trio.fail_after(5):
        await app.caller.call("back.test", 888, "GET", "/ping", EMPTY_BODY, bytes)
        spans = await listener.wait_for(2)
    assert {(s.kind, s.side) for s in spans} == {("control", "client"), ("control", "server")}


async def test_tickers_start_fresh_traces(autojump_clock: trio.abc.Clock, plane: str) -> None:
    bus = MemoryBus()
    ticking = Ticking()
    async with App(Back(), bus=bus, plane=plane, grace=1.0) as app:
        listener = SpanListener(bus.connect(), plane)
        await listener.start()
        await app.hub.spans.wait_listening()
        await app.add(ticking)
        with trio.fail_after(10):
            await ticking.ticked.wait()
            spans = await listener.wait_for(6)
        await listener.stop()
    ticks = [s for s in spans if s.kind == "ticker"]
    assert len(ticks) >= 2
    assert len({t.trace_id for t in ticks}) == len(ticks)
    for t in ticks:
        assert t.parent_id is None and t.side == "internal" and t.path == "/beat"
        calls = [s for s in spans if s.side == "client" and s.parent_id == t.span_id]
        assert len(calls) == 1 and calls[0].trace_id == t.trace_id


async def test_no_listener_publishes_nothing(autojump_clock: trio.abc.Clock, plane: str) -> None:
    bus = MemoryBus()
    spy = CountingTransport(bus.connect())
    async with App(Back(), Front(), bus=spy, plane=plane, grace=1.0) as app:
        front = app.client(Front)
        for n in range(20):
            await front.quad(n=n)
        assert spy.span_publishes == 0 and not app.hub.spans.active

        listener = SpanListener(bus.connect(), plane)
        await listener.start()
        await app.hub.spans.wait_listening()
        await front.quad(n=1)
        await listener.wait_for(6)
        assert spy.span_publishes > 0

        await listener.stop()
        await app.hub.spans.wait_quiet()
        published = spy.span_publishes
        for n in range(20):
            await front.quad(n=n)
        await trio.testing.wait_all_tasks_blocked()
        assert spy.span_publishes == published


async def test_a_vanished_tracer_expires(autojump_clock: trio.abc.Clock, plane: str) -> None:
    """A tracer that crashed (no "off", no heartbeat) stops the flow once its ttl passes."""
    from actorbus._observe.spans import TraceCtl, control_subject, encode_ctl

    bus = MemoryBus()
    spy = CountingTransport(bus.connect())
    async with App(Back(), bus=spy, plane=plane, grace=1.0) as app:
        other = bus.connect()
        other.publish(control_subject(plane), encode_ctl(TraceCtl("on", "crashy", 3.0)))
        await app.hub.spans.wait_listening()
        await app.client(Back).double(n=1)
        await trio.testing.wait_all_tasks_blocked()
        assert spy.span_publishes > 0
        published = spy.span_publishes
        await trio.sleep(5)  # the tracer's ttl (3 s of virtual time) passes without a heartbeat
        for n in range(5):
            await app.client(Back).double(n=n)
        await trio.testing.wait_all_tasks_blocked()
        assert spy.span_publishes == published and not app.hub.spans.active


async def test_a_query_from_a_new_hub_finds_running_tracers(plane: str) -> None:
    """A hub that starts after the tracer announced itself asks (on the query subject, which
    actors may publish on, unlike tracer control), and learns at once."""
    from actorbus._observe.spans import TraceCtl, control_subject, encode_ctl

    bus = MemoryBus()
    tracer_side = bus.connect()
    queries: list[bytes] = []

    def answer(msg: object) -> None:
        data = getattr(msg, "data", b"")
        queries.append(data)
        if data == encode_ctl(TraceCtl("query")):
            tracer_side.publish(control_subject(plane), encode_ctl(TraceCtl("on", "x", 60)))

    await tracer_side.subscribe(control_subject(plane) + ".query", answer)
    async with App(Back(), bus=bus, plane=plane, grace=1.0) as app:
        with trio.fail_after(5):
            await app.hub.spans.wait_listening()
    assert encode_ctl(TraceCtl("query")) in queries
