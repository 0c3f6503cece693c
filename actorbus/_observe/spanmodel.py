"""What a span is on the wire (pure): the `Span` record, trace and span ids, the tracer
control message and the subjects both travel on."""

from __future__ import annotations

import hashlib
import os
import random
from typing import Annotated, Final, Literal, Protocol

import msgspec

from .._wire import subjects as _subjects

__all__ = [
    "Kind",
    "Side",
    "Span",
    "SpanError",
    "SpanId",
    "SpanSink",
    "TraceCtl",
    "TraceId",
    "control_subject",
    "decode_ctl",
    "decode_spans",
    "encode_ctl",
    "encode_spans",
    "new_span_id",
    "new_trace_id",
    "reply_span_id",
    "span_subject",
    "span_wildcard",
]

TraceId = Annotated[
    str, msgspec.Meta(pattern="^[0-9a-f]{32}$", description="W3C trace id: 16 bytes, hex")
]
SpanId = Annotated[
    str, msgspec.Meta(pattern="^[0-9a-f]{16}$", description="W3C span id: 8 bytes, hex")
]
Kind = Literal["call", "event", "sink", "ticker", "control"]
Side = Literal["client", "server", "internal"]

_rng = random.Random(os.urandom(16))


class SpanError(msgspec.Struct):
    """What went wrong: the exception type name and its message."""

    type: str
    message: str


class Span(msgspec.Struct, kw_only=True):
    """One hop seen from one side. ``start`` is Unix time in ns; ``status`` is HTTP-like.

    ``kind``: call (endpoint), event (a source's view of one sink's reply), sink (the sink
    handler), ticker, control (port 888). ``side``: client (caller), server (handler),
    internal (ticker). ``parent_id`` is None for the root of a trace.
    """

    trace_id: TraceId
    span_id: SpanId
    parent_id: SpanId | None = None
    kind: Kind
    side: Side
    from_host: str
    from_instance: str
    to_host: str
    to_instance: str = ""
    port: int
    method: str
    path: str
    status: int
    start: int
    duration_ms: float
    error: SpanError | None = None


class SpanSink(Protocol):
    """Receives every finished span while set on a `SpanRecorder` (the OpenTelemetry exporter)."""

    def export(self, span: Span) -> None: ...


class TraceCtl(msgspec.Struct, array_like=True):
    """On ``<plane>.trace-ctl`` a tracer says on/off; a hub asks who is on at ``….query``."""

    op: Literal["on", "off", "query"]
    id: str = ""
    ttl: float = 0.0


_span_encoder: Final = msgspec.msgpack.Encoder()
_spans_decoder: Final = msgspec.msgpack.Decoder(list[Span])
_ctl_decoder: Final = msgspec.msgpack.Decoder(TraceCtl)


def new_trace_id() -> str:
    """16 random bytes as 32 lower-case hex digits (never all zero)."""
    return f"{_rng.getrandbits(128) | 1:032x}"


def new_span_id() -> str:
    """8 random bytes as 16 lower-case hex digits (never all zero)."""
    return f"{_rng.getrandbits(64) | 1:016x}"


def reply_span_id(span_id: str, instance: str) -> str:
    """The span id of one responder's part of a multicast: the same on both sides."""
    digest = hashlib.blake2b((span_id + instance).encode(), digest_size=8).hexdigest()
    return digest if digest != "0" * 16 else "0" * 15 + "1"


def control_subject(plane: str) -> str:
    return f"{plane}.trace-ctl"


def span_subject(plane: str, host: str) -> str:
    return f"{plane}.trace.{_subjects.reverse_host(host)}"


def span_wildcard(plane: str) -> str:
    return f"{plane}.trace.>"


def encode_ctl(ctl: TraceCtl) -> bytes:
    return _span_encoder.encode(ctl)


def decode_spans(data: bytes) -> list[Span]:
    """A published batch → spans; raises `msgspec.DecodeError` (or ValidationError)."""
    return _spans_decoder.decode(data)


def decode_ctl(data: bytes) -> TraceCtl:
    """A tracer control message; raises `msgspec.DecodeError` (or ValidationError)."""
    return _ctl_decoder.decode(data)


def encode_spans(spans: list[Span]) -> bytes:
    """A batch of spans as published on a host's span subject."""
    return _span_encoder.encode(spans)
