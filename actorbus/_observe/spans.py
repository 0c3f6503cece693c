"""Tracing: one `Span` per hop, published on the bus only while a tracer listens.

Tracers (``actorbus tracer``, ``actorbus run --trace-ws``) announce themselves on
``<plane>.trace-ctl`` ("on" with a time to live, repeated; "off" when they leave). Each `Hub`
owns a `SpanRecorder` (``hub.spans``: not the live tracer of ``_tracer/``, which receives
spans) that keeps the ``active`` flag from those announcements; the runtime's hot path
checks that one boolean and does nothing else while nobody listens. Spans are batched per
emitting host and published, msgpack-encoded, on ``<plane>.trace.<reversed-host>`` once per
scheduler tick.

Ids follow W3C Trace Context: a 16-byte trace id and 8-byte span ids, as lower-case hex. Calls
from outside any actor and ticker runs start fresh traces; everything else inherits the trace
of the handler (or ticker) it runs in, through `current_span`. A request without trace context
starts its trace at the server (or continues its W3C ``traceparent``); spans also reach a sink.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Protocol

import msgspec
import trio

from .._transport.base import Message, Transport
from .._wire import subjects as _subjects
from .._wire.frames import Fault, Frame, Request, Response
from .._wire.subjects import CONTROL_PORT
from .._wire.tracecontext import parse_traceparent
from .spanmodel import (
    Kind,
    Span,
    SpanError,
    SpanSink,
    TraceCtl,
    control_subject,
    decode_ctl,
    decode_spans,
    encode_ctl,
    encode_spans,
    new_span_id,
    new_trace_id,
    reply_span_id,
    span_subject,
    span_wildcard,
)

__all__ = [
    "Span",
    "SpanError",
    "SpanRecorder",
    "SpanSink",
    "TraceCtl",
    "control_subject",
    "current_span",
    "decode_spans",
    "encode_ctl",
    "new_span_id",
    "new_trace_id",
    "span_subject",
    "span_wildcard",
]

log = logging.getLogger("actorbus.trace")

#: (trace id, span id) of the handler or ticker the current task runs in.
current_span: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "actorbus_current_span", default=None
)

_MAX_BUFFER: Final = 4096  # spans waiting for the next flush, per hub


def _error_of(exc: BaseException) -> tuple[int, SpanError]:
    if isinstance(exc, trio.Cancelled):
        return 499, SpanError("Cancelled", "the caller's scope was cancelled")
    status = getattr(exc, "status", 500)
    kind = getattr(exc, "remote_type", None) or type(exc).__name__
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        message = str(exc)
    return (status if isinstance(status, int) else 500), SpanError(kind, message)


def _kind_of(port: int, default: Kind) -> Kind:
    return "control" if port == CONTROL_PORT else default


class OpenSpan:
    """A span being timed; `end` (or one of its variants) publishes it."""

    __slots__ = ("_t0", "error", "span", "tracer")

    def __init__(self, tracer: SpanRecorder, span: Span) -> None:
        self.tracer, self.span, self._t0 = tracer, span, time.perf_counter()
        self.error: BaseException | None = None

    def end(self, status: int = 200, error: SpanError | None = None) -> None:
        span = self.span
        span.duration_ms = round((time.perf_counter() - self._t0) * 1000.0, 3)
        span.status = status
        span.error = error
        self.tracer.emit(span)

    def end_call(self, ackers: dict[str, str]) -> None:
        """Unicast client side: success unless `error` was recorded."""
        if len(ackers) == 1:
            self.span.to_instance = next(iter(ackers))
        self.close()

    def end_with(self, out: Frame | None) -> None:
        """Server side: the frame the handler answers with (None when it was cancelled)."""
        if out is None:
            self.end(499, SpanError("Cancelled", "the caller cancelled the call"))
        elif isinstance(out, Fault):
            self.end(out.status, SpanError(out.type, out.message))
        else:
            self.end(200)

    def close(self) -> None:
        """Success unless `error` was recorded."""
        if self.error is None:
            self.end(200)
        else:
            self.end(*_error_of(self.error))


class MulticastSpans:
    """Client spans of one multicast: one per responder, ended by its reply."""

    __slots__ = ("_done", "_t0", "base", "tracer")

    def __init__(self, tracer: SpanRecorder, base: Span) -> None:
        self.tracer = tracer
        self.base = base
        self._t0 = time.perf_counter()
        self._done: set[str] = set()

    def _emit(self, host: str, instance: str, status: int, error: SpanError | None) -> None:
        if instance in self._done:
            return
        self._done.add(instance)
        span = msgspec.structs.replace(
            self.base,
            span_id=reply_span_id(self.base.span_id, instance),
            to_host=host,
            to_instance=instance,
            status=status,
            error=error,
            duration_ms=round((time.perf_counter() - self._t0) * 1000.0, 3),
        )
        self.tracer.emit(span)

    def reply(self, frame: Response | Fault) -> None:
        if isinstance(frame, Fault):
            error = SpanError(frame.type, frame.message)
            self._emit(frame.from_host, frame.from_instance, frame.status, error)
        else:
            self._emit(frame.from_host, frame.from_instance, 200, None)

    def abandon(self, pending: Iterable[str], hosts: dict[str, str]) -> None:
        """Responders that acknowledged but never replied (cut short or cancelled)."""
        for instance in pending:
            if instance in hosts:
                error = SpanError("Cancelled", "the gathering ended before this reply")
                self._emit(hosts[instance], instance, 499, error)


class Unsubscribe(Protocol):
    """A subscription as its owner hands it back."""

    async def unsubscribe(self) -> None: ...


#: ``subscribe(subject, deliver)``: how a recorder subscribes (through the hub, in the runtime).
Subscribe = Callable[[str, Callable[[Message], None]], Awaitable[Unsubscribe]]


class SpanRecorder:
    """Per-hub tracing switchboard. ``listening`` is True while at least one live tracer
    listens; ``active`` while spans are recorded at all (a live tracer or a `SpanSink`)."""

    def __init__(
        self,
        transport: Transport,
        plane: str,
        *,
        enabled: bool | None = None,
        subscribe: Subscribe | None = None,
    ) -> None:
        self.transport = transport
        #: How it follows tracer control: its owner's (the hub's), else the transport's own.
        self._subscribe: Subscribe = subscribe or transport.subscribe
        self.plane = plane
        if enabled is None:
            enabled = os.environ.get("ACTORBUS_TRACE", "1").lower() not in {"0", "off", "false"}
        self.enabled = enabled
        self.active = False
        self.listening = False
        self.sink: SpanSink | None = None
        self.published = 0
        self.dropped = 0
        self._listeners: dict[str, float] = {}
        self._next_expiry = float("inf")
        self._buffers: dict[str, list[Span]] = {}
        self._buffered = 0
        self._flush_scheduled = False
        self._changed = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._sub: Unsubscribe | None = None
        self._ctl = control_subject(plane)

    async def start(self) -> None:
        """Follow tracer announcements and ask who is already listening."""
        self._token = trio.lowlevel.current_trio_token()
        if not self.enabled:
            await trio.lowlevel.checkpoint()
            return
        self._sub = await self._subscribe(self._ctl, self._on_ctl)
        try:
            self.transport.publish(self._ctl + ".query", encode_ctl(TraceCtl("query")))
        except Exception as exc:
            log.debug("could not ask for tracers: %r", exc)

    async def aclose(self) -> None:
        self._flush()
        self._listeners.clear()
        self._update()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()
        else:
            await trio.lowlevel.checkpoint()

    def enable(self, on: bool) -> None:
        """Switch tracing on or off for this hub (off: never active, whoever listens)."""
        self.enabled = on
        self._update()

    def set_sink(self, sink: SpanSink | None) -> None:
        """Hand every finished span to ``sink`` too (None: stop)."""
        self.sink = sink
        self._update()

    async def wait_listening(self) -> None:
        """Return once a tracer listens (spans published from now on reach it)."""
        while not self.listening:
            await self._changed.wait()
        await trio.lowlevel.checkpoint()

    async def wait_quiet(self) -> None:
        """Return once no tracer listens."""
        while self.listening:
            await self._changed.wait()
        await trio.lowlevel.checkpoint()

    # -- listening state ---------------------------------------------------------------

    def _on_ctl(self, msg: Message) -> None:
        try:
            ctl = decode_ctl(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.debug("ignored a malformed trace control message")
            return
        if ctl.op == "on" and ctl.id:
            self._listeners[ctl.id] = trio.current_time() + max(ctl.ttl, 0.1)
        elif ctl.op == "off":
            self._listeners.pop(ctl.id, None)
        else:
            return
        self._update()

    def _update(self) -> None:
        listeners = self._listeners
        self._next_expiry = min(listeners.values(), default=float("inf"))
        listening = self.enabled and bool(listeners)
        self.active = listening or (self.enabled and self.sink is not None)
        if listening != self.listening:
            self.listening = listening
            log.debug("live tracing %s", "on" if listening else "off")
            self._changed.set()
            self._changed = trio.Event()

    def _expire(self, now: float) -> None:
        for key, expiry in list(self._listeners.items()):
            if expiry <= now:
                del self._listeners[key]
        self._update()

    # -- ids -----------------------------------------------------------------------------

    def stamp(self, frame: Request) -> None:
        """Give an outbound request its trace id (inherited or fresh) and a new span id."""
        ctx = current_span.get()
        if ctx is not None:
            frame.trace_id = ctx[0]
        elif not frame.trace_id:
            frame.trace_id = new_trace_id()
        frame.span_id = new_span_id()

    # -- opening spans (only called when tracing is active or a trace is running) --------

    def client(self, frame: Request, kind: Kind = "call") -> OpenSpan:
        """The caller's side of a unicast (or one fire-and-forget event)."""
        return OpenSpan(self, self._client_span(frame, kind))

    def fired(self, frame: Request, subject: str) -> None:
        """A fire-and-forget multicast: one client span, done as soon as it is sent."""
        kind: Kind = "call" if f".{_subjects.ALL_REPLICAS}." in subject else "event"
        OpenSpan(self, self._client_span(frame, kind)).end(202)

    def multicast(self, frame: Request, subject: str) -> MulticastSpans:
        """The caller's side of a multicast: one span per responder."""
        kind: Kind = "call" if f".{_subjects.ALL_REPLICAS}." in subject else "event"
        return MulticastSpans(self, self._client_span(frame, kind))

    def _client_span(self, frame: Request, kind: Kind) -> Span:
        ctx = current_span.get()
        return Span(
            trace_id=frame.trace_id,
            span_id=frame.span_id,
            parent_id=ctx[1] if ctx is not None else None,
            kind=_kind_of(frame.port, kind),
            side="client",
            from_host=frame.from_host,
            from_instance=frame.from_instance,
            to_host=frame.host,
            port=frame.port,
            method=frame.method,
            path=frame.path,
            status=0,
            start=time.time_ns(),
            duration_ms=0.0,
        )

    def server(self, frame: Request, host: str, instance: str, sink: bool) -> OpenSpan:
        """The handler's side; sets `current_span` for the calls the handler makes.

        A request without actorbus trace context continues its W3C ``traceparent``, or else
        starts a trace here (the root span, ``from_host`` naming the caller)."""
        parent: str | None
        trace_id = frame.trace_id
        if not trace_id:
            trace_id, parent = parse_traceparent(frame.traceparent) or (new_trace_id(), None)
        elif frame.multicast and not frame.oneway and frame.span_id:
            parent = reply_span_id(frame.span_id, instance)
        else:
            parent = frame.span_id or None
        span_id = new_span_id()
        current_span.set((trace_id, span_id))
        span = Span(
            trace_id=trace_id,
            span_id=span_id,
            parent_id=parent,
            kind=_kind_of(frame.port, "sink" if sink else "call"),
            side="server",
            from_host=frame.from_host,
            from_instance=frame.from_instance,
            to_host=host,
            to_instance=instance,
            port=frame.port,
            method=frame.method,
            path=frame.path,
            status=0,
            start=time.time_ns(),
            duration_ms=0.0,
        )
        return OpenSpan(self, span)

    def ticker(self, host: str, instance: str, name: str) -> OpenSpan:
        """One ticker run: a fresh trace; sets `current_span` for the calls it makes."""
        trace_id, span_id = new_trace_id(), new_span_id()
        current_span.set((trace_id, span_id))
        span = Span(
            trace_id=trace_id,
            span_id=span_id,
            kind="ticker",
            side="internal",
            from_host=host,
            from_instance=instance,
            to_host=host,
            to_instance=instance,
            port=0,
            method="TICK",
            path="/" + _subjects.kebab(name),
            status=0,
            start=time.time_ns(),
            duration_ms=0.0,
        )
        return OpenSpan(self, span)

    # -- publishing ----------------------------------------------------------------------

    def emit(self, span: Span) -> None:
        """Queue a finished span for the next flush; dropped when nobody listens."""
        if not self.active:
            return
        if self.sink is not None:
            self.sink.export(span)  # must not raise: the OpenTelemetry sink catches its own errors
        if not self.listening:
            return
        now = trio.current_time()
        if now >= self._next_expiry:
            self._expire(now)
            if not self.listening:
                return
        if self._buffered >= _MAX_BUFFER:
            self.dropped += 1
            return
        host = span.to_host if span.side != "client" else span.from_host
        buf = self._buffers.get(host)
        if buf is None:
            self._buffers[host] = [span]
        else:
            buf.append(span)
        self._buffered += 1
        if not self._flush_scheduled and self._token is not None:
            self._flush_scheduled = True
            self._token.run_sync_soon(self._flush)

    def _flush(self) -> None:
        """Publish what was buffered, one message per emitting host. Never raises."""
        self._flush_scheduled = False
        if not self._buffered:
            return
        buffers, self._buffers, self._buffered = self._buffers, {}, 0
        for host, spans in buffers.items():
            try:
                self.transport.publish(span_subject(self.plane, host), encode_spans(spans))
                self.published += len(spans)
            except Exception as exc:
                self.dropped += len(spans)
                log.debug("could not publish %d spans: %r", len(spans), exc)
