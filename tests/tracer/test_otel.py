"""OpenTelemetry export: the same spans, with the same ids, in the SDK's in-memory exporter."""

from __future__ import annotations

import pytest
import trio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from actorbus import App
from actorbus._observe.otel import OtelConfigError, OtelSink, exporters_from_env
from actorbus._transport.memory import MemoryBus

from .actors import Audit, Back, Files, Front, Users
from .conftest import SpanListener


async def test_otel_spans_carry_the_live_tracer_ids(plane: str) -> None:
    bus = MemoryBus()
    memory = InMemorySpanExporter()
    sink = OtelSink([memory], batch=False)
    async with App(Back(), Users(), Files(), Audit(), bus=bus, plane=plane) as app:
        app.hub.spans.set_sink(sink)
        listener = SpanListener(bus.connect(), plane)
        await listener.start()
        with trio.fail_after(10):
            await app.hub.spans.wait_listening()
            assert await app.client(Users).delete(user_id="u1") == 1
            live = await listener.wait_for(8)
        await listener.stop()
    sink.shutdown()
    exported = memory.get_finished_spans()
    assert len(exported) == len(live) == 8
    as_otel = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}"): s for s in exported}
    assert set(as_otel) == {(s.trace_id, s.span_id) for s in live}
    for span in live:
        otel = as_otel[(span.trace_id, span.span_id)]
        parent = f"{otel.parent.span_id:016x}" if otel.parent is not None else None
        assert parent == span.parent_id
        assert otel.start_time == span.start
        assert otel.attributes is not None
        assert otel.attributes["actorbus.from_host"] == span.from_host
    kinds = {(s.kind, s.side): as_otel[(s.trace_id, s.span_id)].kind for s in live}
    assert kinds[("call", "client")] == SpanKind.CLIENT
    assert kinds[("call", "server")] == SpanKind.SERVER
    assert kinds[("event", "client")] == SpanKind.PRODUCER
    assert kinds[("sink", "server")] == SpanKind.CONSUMER
    delete = next(s for s in exported if s.kind == SpanKind.SERVER and "users.test" in s.name)
    assert delete.attributes is not None
    assert (delete.attributes["rpc.system"], delete.attributes["rpc.service"]) == (
        "actorbus",
        "users.test",
    )
    sinks = [s for s in exported if s.kind == SpanKind.CONSUMER]
    assert {s.attributes["messaging.destination.name"] for s in sinks if s.attributes} == {
        "users.test:417/on-deleted"
    }
    failed = [s for s in exported if s.status.status_code == StatusCode.ERROR]
    assert failed and all(s.attributes and s.attributes["error.type"] for s in failed)


async def test_otel_alone_traces_every_call(plane: str) -> None:
    """No live tracer listening: OTel on its own still records every hop."""
    memory = InMemorySpanExporter()
    sink = OtelSink([memory], batch=False)
    async with App(Back(), Front(), plane=plane) as app:
        app.hub.spans.set_sink(sink)
        assert not app.hub.spans.listening and app.hub.spans.active
        with trio.fail_after(10):
            assert await app.client(Front).quad(n=1) == 4
    spans = memory.get_finished_spans()
    assert len(spans) == 6 and len({s.context.trace_id for s in spans}) == 1


def test_exporters_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert [type(e).__name__ for e in exporters_from_env()] == ["ConsoleSpanExporter"]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert exporters_from_env() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin-nope")
    with pytest.raises(OtelConfigError, match="OTEL_TRACES_EXPORTER=zipkin-nope"):
        exporters_from_env()


async def test_actorbus_otel_env_switches_it_on(
    monkeypatch: pytest.MonkeyPatch, plane: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    async with App(Back(), plane=plane) as app:
        assert app.hub.spans.sink is None and not app.hub.spans.active
    monkeypatch.setenv("ACTORBUS_OTEL", "1")
    async with App(Back(), plane=plane) as app:
        assert isinstance(app.hub.spans.sink, OtelSink) and app.hub.spans.active
    async with App(Back(), plane=plane, otel=False) as app:
        assert app.hub.spans.sink is None
