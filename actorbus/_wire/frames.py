"""Frames on the wire (pure): a msgspec tagged union encoded as msgpack.

Rules: new fields go last with defaults; existing fields are never reordered or retyped.
Bodies stay ``msgspec.Raw`` so a frame is routed before its arguments are decoded, and so a
multicast encodes its body once.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "EMPTY_BODY",
    "Ack",
    "Cancel",
    "Fault",
    "Fragment",
    "Frame",
    "FrameError",
    "Request",
    "Response",
    "decode",
    "encode",
    "encode_body",
]

EMPTY_BODY: Final = msgspec.Raw(b"\x80")  # msgpack {}


class FrameError(ValueError):
    """Bytes that are not a valid frame."""


class _Base(msgspec.Struct, tag_field="op", omit_defaults=True):
    """Common options: the ``op`` field tells the frame kind (as Microbus's Op-Code header)."""


class Request(_Base, tag="req"):
    """A call: unicast or multicast. ``budget_ms`` is the caller's remaining time.

    ``trace_id``/``span_id`` carry actorbus's own trace context; a request without them may
    carry a W3C ``traceparent`` instead (from a plain NATS client or an HTTP gateway).
    """

    msg_id: str
    from_host: str
    from_instance: str
    host: str
    port: int
    method: str
    path: str
    depth: int
    budget_ms: int
    body: msgspec.Raw = EMPTY_BODY
    multicast: bool = False
    trace_id: str = ""
    span_id: str = ""
    oneway: bool = False
    token: str = ""  # the caller's secret for this call: cancels and replies must echo it
    traceparent: str = ""  # W3C trace context from a caller outside actorbus's own tracing
    #: A durable sink's delivery count of this event (JetStream's, set on receipt; 0 live).
    delivered: int = 0

    @property
    def event_id(self) -> str:
        """The id the source stamped on this event (``Nats-Msg-Id``): unique per event."""
        return f"{self.from_instance}.{self.msg_id}"


class Ack(_Base, tag="ack"):
    """Sent by a responder that took the request in, unless a reply within ``ack_delay``
    stands in for it."""

    msg_id: str
    from_host: str
    from_instance: str
    queue: str
    token: str = ""  # echoed from the request: proves the responder received it


class Response(_Base, tag="res"):
    """A handler's return value."""

    msg_id: str
    from_host: str
    from_instance: str
    queue: str
    body: msgspec.Raw = msgspec.Raw(b"\xc0")  # msgpack nil
    token: str = ""  # echoed from the request


class Fault(_Base, tag="err"):
    """A handler's (or the runtime's) error, with the remote traceback."""

    msg_id: str
    from_host: str
    from_instance: str
    queue: str
    status: int
    type: str
    message: str
    traceback: str = ""
    token: str = ""  # echoed from the request


class Cancel(_Base, tag="cancel"):
    """The caller gave up: the responder cancels the handler of ``msg_id`` whose request
    carried the same ``token`` (a guessed ``msg_id`` alone cancels nothing)."""

    msg_id: str
    from_host: str
    from_instance: str
    token: str = ""


class Fragment(_Base, tag="frag"):
    """One piece of a frame larger than the server's ``max_payload`` (as Microbus fragments
    HTTP bodies). ``index`` counts from 0 of ``count``; ``size`` is the whole frame's length.

    The first piece of a request goes where the request would; its receiver acks it and the
    caller sends the rest to that instance alone. A reply's pieces all follow on its answer
    subject. ``token`` is the call's secret: a set is keyed by sender, call and token, so no
    peer can add pieces to another's call.
    """

    msg_id: str
    from_host: str
    from_instance: str
    token: str
    index: int
    count: int
    size: int
    data: msgspec.Raw  # a msgpack bin: read in place, never copied (`fragments.payload`)


Frame = Request | Ack | Response | Fault | Cancel | Fragment

_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final[msgspec.msgpack.Decoder[Frame]] = msgspec.msgpack.Decoder(Frame)


def encode(frame: Frame) -> bytes:
    """Frame → bytes."""
    return _encoder.encode(frame)


def decode(data: bytes) -> Frame:
    """Bytes → frame; anything malformed raises `FrameError` and nothing else."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError(f"malformed frame: {exc}") from None
    except Exception as exc:
        raise FrameError(f"malformed frame: {exc!r}") from None


def encode_body(value: object) -> msgspec.Raw:
    """Arguments or a return value → a body to put in a frame."""
    return msgspec.Raw(_encoder.encode(value))
