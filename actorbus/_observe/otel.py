"""OpenTelemetry export: every finished actorbus span, converted to an OTel SDK span.

The SDK tracer provider is built from the standard ``OTEL_*`` environment variables
(``OTEL_TRACES_EXPORTER`` = ``otlp`` (default), ``console`` or ``none``; ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``).
Its id generator hands out the ids of the span being converted, so the trace and span ids in
OTel are the ones the live tracer shows. Attributes follow OTel's RPC conventions for calls and
its messaging conventions for events and sinks. Imported only when switched on
(``App(otel=True)``, ``ACTORBUS_OTEL=1``, ``actorbus run --otel``): the SDK is the optional
``actorbus[otel]`` extra.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any, Final

from opentelemetry import trace as _api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._version import __version__, install_hint
from .spans import Span

__all__ = ["OtelConfigError", "OtelSink", "exporters_from_env"]

log = logging.getLogger("actorbus.otel")

_EXPORTER_GROUP: Final = "opentelemetry_traces_exporter"
_KINDS: Final = {
    ("call", "client"): SpanKind.CLIENT,
    ("call", "server"): SpanKind.SERVER,
    ("control", "client"): SpanKind.CLIENT,
    ("control", "server"): SpanKind.SERVER,
    ("event", "client"): SpanKind.PRODUCER,
    ("sink", "server"): SpanKind.CONSUMER,
}
_SAMPLED: Final = _api.TraceFlags(_api.TraceFlags.SAMPLED)


class OtelConfigError(ValueError):
    """The ``OTEL_*`` settings name an exporter that is not installed."""


class _GivenIds(IdGenerator):
    """Hands out the ids of the span being converted (set just before it starts)."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


def exporters_from_env() -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (comma-separated; default otlp)."""
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    found = {ep.name: ep for ep in entry_points(group=_EXPORTER_GROUP)}
    out: list[SpanExporter] = []
    for name in (n.strip() for n in names.split(",")):
        if not name or name == "none":
            continue
        key = name
        if name == "otlp":
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            key = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
        if key not in found:
            raise OtelConfigError(
                f"OTEL_TRACES_EXPORTER={name}: no such span exporter is installed "
                f"(for otlp: {install_hint('otel')})"
            )
        out.append(found[key].load()())
    return out


class OtelSink:
    """A `SpanSink` that re-creates each actorbus span in an OTel SDK tracer provider."""

    def __init__(
        self,
        exporters: Sequence[SpanExporter],
        *,
        batch: bool = True,
        resource: Resource | None = None,
    ) -> None:
        self._ids = _GivenIds()
        if resource is None:
            resource = Resource.create()
            if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
                resource = resource.merge(Resource({SERVICE_NAME: "actorbus"}))
        self.provider = TracerProvider(resource=resource, id_generator=self._ids)
        for exporter in exporters:
            processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
            self.provider.add_span_processor(processor)
        self._tracer = self.provider.get_tracer("actorbus", __version__)

    @classmethod
    def from_env(cls) -> OtelSink:
        """Exporters and resource from the standard ``OTEL_*`` variables; batched export."""
        return cls(exporters_from_env())

    def shutdown(self) -> None:
        """Flush what is batched and stop the exporters."""
        self.provider.shutdown()

    def export(self, span: Span) -> None:
        """Record one finished span; never raises (a telemetry fault must not fail a call)."""
        try:
            self._record(span)
        except Exception as exc:
            log.debug("could not export a span to OpenTelemetry: %r", exc)

    def _record(self, span: Span) -> None:
        trace_id = int(span.trace_id, 16)
        self._ids.trace_id, self._ids.span_id = trace_id, int(span.span_id, 16)
        context = Context()  # a root ignores any ambient OTel context: the ids must match
        if span.parent_id is not None:
            parent = _api.SpanContext(
                trace_id, int(span.parent_id, 16), is_remote=True, trace_flags=_SAMPLED
            )
            context = _api.set_span_in_context(_api.NonRecordingSpan(parent), context)
        name, attributes = _describe(span)
        otel_span = self._tracer.start_span(
            name,
            context=context,
            kind=_KINDS.get((span.kind, span.side), SpanKind.INTERNAL),
            attributes=attributes,
            start_time=span.start,
        )
        if span.error is not None:
            otel_span.set_attribute("error.type", span.error.type)
            otel_span.set_status(
                Status(StatusCode.ERROR, f"{span.error.type}: {span.error.message}")
            )
        otel_span.end(end_time=span.start + int(span.duration_ms * 1_000_000))


def _describe(span: Span) -> tuple[str, dict[str, Any]]:
    """The OTel span name and attributes (RPC conventions for calls, messaging for events)."""
    attributes: dict[str, Any] = {
        "actorbus.kind": span.kind,
        "actorbus.from_host": span.from_host,
        "actorbus.from_instance": span.from_instance,
        "actorbus.to_host": span.to_host,
        "actorbus.status": span.status,
    }
    if span.to_instance:
        attributes["actorbus.to_instance"] = span.to_instance
    if span.kind == "ticker":
        return f"tick {span.to_host}{span.path}", attributes
    attributes["server.address"] = span.to_host
    attributes["server.port"] = span.port
    if span.kind in ("event", "sink"):
        # An event goes out on its source's subjects; sinks of one host share a queue group.
        destination = f"{span.from_host}:{span.port}{span.path}"
        sending = span.side == "client"
        attributes["messaging.system"] = "actorbus"
        attributes["messaging.destination.name"] = destination
        attributes["messaging.operation.type"] = "send" if sending else "process"
        attributes["messaging.operation.name"] = "publish" if sending else "process"
        if not sending:
            attributes["messaging.consumer.group.name"] = span.to_host
        return f"{'publish' if sending else 'process'} {destination}", attributes
    attributes["rpc.system"] = "actorbus"
    attributes["rpc.service"] = span.to_host
    attributes["rpc.method"] = f"{span.method} {span.path}"
    attributes["rpc.response.status_code"] = str(span.status)
    return f"{span.to_host}/{span.method} {span.path}", attributes
