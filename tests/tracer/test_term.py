"""`actorbus trace`: the tree rendering, trace grouping, and the client against a live tracer."""

from __future__ import annotations

import io
import json

import pytest
import trio

from actorbus import App
from actorbus._observe.spans import Span, SpanError
from actorbus._tracer.terminal import RED, TraceBuffer, TracerGone, render_trace, run_trace_client
from actorbus._tracer.websocket import TracerServer
from actorbus._transport.memory import MemoryBus

from .actors import Back, Front
from .wsutil import tracer_app


def span(span_id: str, parent: str | None, side: str, to: str, **kw: object) -> Span:
    fields: dict[str, object] = dict(
        trace_id="t" * 32,
        span_id=span_id,
        parent_id=parent,
        kind="call",
        side=side,
        from_host="front.test" if parent else "app.actorbus",
        from_instance="i",
        to_host=to,
        port=443,
        method="POST",
        path="/x",
        status=200,
        start=int(span_id, 16),
        duration_ms=1.5,
    )
    fields.update(kw)
    return Span(**fields)  # type: ignore[arg-type]


CHAIN = [
    span("0000000000000001", None, "client", "front.test"),
    span("0000000000000002", "0000000000000001", "server", "front.test"),
    span("0000000000000003", "0000000000000002", "client", "back.test"),
    span(
        "0000000000000004",
        "0000000000000003",
        "server",
        "back.test",
        status=500,
        error=SpanError("ValueError", "boom"),
    ),
]


def test_a_trace_renders_as_an_indented_tree() -> None:
    lines = render_trace(reversed(CHAIN), color=False)
    assert lines[0] == "trace " + "t" * 32
    assert len(lines) == 3  # each client span is shown with its handler on one line
    assert lines[1].startswith("  POST front.test:443/x  200")
    assert "handler 1.50 ms" in lines[1]
    assert lines[2].startswith("    └ POST back.test:443/x  500")
    assert "ValueError: boom" in lines[2]
    assert RED not in "".join(lines)


def test_errors_are_red_when_colour_is_on() -> None:
    lines = render_trace(CHAIN, color=True)
    assert RED in lines[2] and RED not in lines[1]


def test_the_buffer_waits_for_the_root_then_settles() -> None:
    buf = TraceBuffer(settle=0.3, max_wait=3.0)
    for s in CHAIN[1:]:
        buf.add(s, now=10.0)
    assert buf.pop_ready(12.9) == []
    buf.add(CHAIN[0], now=11.0)
    assert buf.next_due() == 11.3
    ready = buf.pop_ready(11.3)
    assert len(ready) == 1 and len(ready[0]) == 4
    orphan = span("0000000000000009", "00000000000000ff", "server", "x.test", trace_id="a" * 32)
    buf.add(orphan, now=20.0)
    assert buf.pop_ready(22.9) == [] and buf.pop_ready(23.0) == [[orphan]]


class Output(io.StringIO):
    """Captures what the client prints and wakes the test on each write."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = trio.Event()

    def write(self, s: str) -> int:
        n = super().write(s)
        self.changed.set()
        self.changed = trio.Event()
        return n

    async def wait_for(self, text: str, count: int = 1) -> str:
        while self.getvalue().count(text) < count:
            await self.changed.wait()
        return self.getvalue()


async def test_the_client_prints_trees_and_json_lines(plane: str) -> None:
    async with tracer_app(plane, Back(), Front()) as (app, server), trio.open_nursery() as n:
        url = f"ws://127.0.0.1:{server.port}"
        tree, raw = Output(), Output()
        with trio.fail_after(20):
            await n.start(
                lambda task_status: run_trace_client(
                    url, json_lines=False, out=tree, task_status=task_status
                )
            )
            await n.start(
                lambda task_status: run_trace_client(
                    url + "/?host=back.test", json_lines=True, out=raw, task_status=task_status
                )
            )
            await app.hub.spans.wait_listening()
            assert await app.client(Front).quad(n=2) == 8
            text = await tree.wait_for("└ POST back.test:443/double", 2)
            lines = await raw.wait_for('"span_id"', 4)
        n.cancel_scope.cancel()
    assert "POST front.test:443/quad  200" in text
    assert "\x1b[" not in text  # not a tty: no colour
    spans = [json.loads(line) for line in lines.splitlines() if '"span_id"' in line]
    assert all("back.test" in (s["from_host"], s["to_host"]) for s in spans)


async def test_nobody_listening_is_a_connection_error() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # a port nobody listens on
    with trio.fail_after(10), pytest.raises(ConnectionError, match="no live tracer"):
        await run_trace_client(f"ws://127.0.0.1:{port}", json_lines=True, out=io.StringIO())


@pytest.mark.parametrize("json_lines", [False, True])
async def test_the_client_says_when_the_tracer_goes_away(plane: str, json_lines: bool) -> None:
    bus = MemoryBus()
    tracer_scope = trio.CancelScope()
    errors: list[BaseException] = []

    async def run_tracer(task_status: trio.TaskStatus[TracerServer]) -> None:
        with tracer_scope:
            await TracerServer(bus.connect(), plane).serve("127.0.0.1", 0, task_status=task_status)

    async def attach(url: str, task_status: trio.TaskStatus[None]) -> None:
        try:
            await run_trace_client(
                url, json_lines=json_lines, out=Output(), task_status=task_status
            )
        except TracerGone as exc:
            errors.append(exc)

    async with App(Back(), bus=bus, plane=plane, grace=1.0) as app, trio.open_nursery() as n:
        with trio.fail_after(20):
            server = await n.start(run_tracer)
            url = f"ws://127.0.0.1:{server.port}"
            await n.start(attach, url)
            await app.hub.spans.wait_listening()
            tracer_scope.cancel()  # the tracer goes away; the client must say so and return
    assert len(errors) == 1
    assert str(errors[0]).startswith(f"the live tracer at {url} went away (code ")


async def test_control_calls_and_ticker_beats_are_folded_unless_asked(plane: str) -> None:
    import msgspec

    from actorbus._tracer.terminal import is_background
    from actorbus._wire.frames import EMPTY_BODY

    assert is_background([span("0000000000000001", None, "client", "back.test", kind="control")])
    assert is_background([span("0000000000000001", None, "internal", "back.test", kind="ticker")])
    assert not is_background(CHAIN)
    async with tracer_app(plane, Back(), Front()) as (app, server), trio.open_nursery() as n:
        url = f"ws://127.0.0.1:{server.port}"
        folded, everything = Output(), Output()
        with trio.fail_after(20):
            for out, show_all in ((folded, False), (everything, True)):
                await n.start(
                    lambda task_status, out=out, show_all=show_all: run_trace_client(
                        url,
                        json_lines=False,
                        show_all=show_all,
                        out=out,
                        task_status=task_status,
                    )
                )
            await app.hub.spans.wait_listening()
            await app.caller.call(
                "back.test", 888, "GET", "/ping", EMPTY_BODY, msgspec.msgpack.decode
            )
            assert await app.client(Front).quad(n=1) == 4
            await everything.wait_for("POST front.test:443/quad")
            await folded.wait_for("POST front.test:443/quad")
        n.cancel_scope.cancel()
    assert "/ping" in everything.getvalue()
    assert "/ping" not in folded.getvalue()
    assert "--all shows them" in folded.getvalue()
