"""JetStream's JSON shapes and the names actorbus gives its streams and consumers (pure).

Durable sinks (`@sink(..., durable=True)`) read a source's events from a stream that captures
the source's event subjects; each sink host has one durable pull consumer per event, shared by
its replicas. Dead letters go to one stream per plane. Everything here is a string or a dict:
the client (`_transport/jetstream.py`) sends and receives them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from . import subjects as _subjects

__all__ = [
    "ACK",
    "DEFAULT_MAX_DELIVER",
    "ERROR_HEADER",
    "EVENT_ID_HEADER",
    "IN_PROGRESS",
    "MSG_ID_HEADER",
    "REPLY_HEADER",
    "TERM",
    "ApiError",
    "Delivered",
    "api_error",
    "backoff",
    "consumer_config",
    "consumer_name",
    "dlq_config",
    "dlq_stream",
    "dlq_subject",
    "dlq_subjects",
    "event_id",
    "inbox_prefix",
    "nak",
    "parse_ack_subject",
    "pull_request",
    "replay_subject",
    "stream_config",
    "stream_name",
    "stream_subjects",
]

#: Delivery attempts of one event before it becomes a dead letter (``@sink(max_deliver=)``).
DEFAULT_MAX_DELIVER: Final = 5
#: First redelivery delay after a handler raised (doubling each attempt, up to `BACKOFF_CAP`).
BACKOFF_BASE: Final = 0.5
BACKOFF_CAP: Final = 30.0
#: A delivered message not acked within this is redelivered (a long handler says +WPI).
ACK_WAIT: Final = 10.0
DUPLICATE_WINDOW: Final = 120.0

MSG_ID_HEADER: Final = "Nats-Msg-Id"
#: The reply subject of a gathering's event, so a durable sink can still answer it.
REPLY_HEADER: Final = "Actorbus-Reply"
ERROR_HEADER: Final = "Actorbus-Error"
EVENT_ID_HEADER: Final = "Actorbus-Event-Id"

ACK: Final = b"+ACK"
IN_PROGRESS: Final = b"+WPI"
TERM: Final = b"+TERM"

_NS: Final = 1_000_000_000
# JetStream refuses these in stream and consumer names.
_NAME_MAX = 64


class ApiError(Exception):
    """JetStream refused a request: ``code`` (HTTP-like), ``err_code`` (JetStream's own)."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"JetStream error {err_code}: {description}")
        self.code = code
        self.err_code = err_code
        self.description = description


def api_error(body: bytes) -> tuple[dict[str, Any], ApiError | None]:
    """A `$JS.API` response as a dict and its error, if it is one; a body that is not a JSON
    object is an error too (never an exception of another kind)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return {}, ApiError(0, 0, f"not a JSON response: {body[:60]!r}")
    if not isinstance(doc, dict):
        return {}, ApiError(0, 0, f"not a JSON object: {body[:60]!r}")
    err = doc.get("error")
    if isinstance(err, dict):
        code, err_code = err.get("code"), err.get("err_code")
        return doc, ApiError(
            code if isinstance(code, int) else 0,
            err_code if isinstance(err_code, int) else 0,
            " ".join(str(err.get("description", "unknown error")).split()),
        )
    return doc, None


def _encode(name: str) -> str:
    """A hostname or queue as a stream/consumer name token: ``_`` → ``_u``, ``.`` → ``__``
    (one-to-one), anything else outside ``[a-z0-9-]`` as ``_x<hex>``."""
    out: list[str] = []
    for ch in name:
        if ch == "_":
            out.append("_u")
        elif ch == ".":
            out.append("__")
        elif ch.isascii() and (ch.isalnum() or ch == "-"):
            out.append(ch)
        else:
            out.append(f"_x{ord(ch):x}_")
    return "".join(out)


def _bounded(readable: str, key: str) -> str:
    if len(readable) <= _NAME_MAX:
        return readable
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{readable[: _NAME_MAX - 17]}-{digest}"


def stream_name(plane: str, source: str) -> str:
    """The stream that captures ``source``'s events on ``plane``."""
    return _bounded(f"AB_{plane}_{_encode(source)}", f"{plane} {source}")


def dlq_stream(plane: str) -> str:
    """The stream of the plane's dead letters (upper case: no hostname encodes to it)."""
    return f"AB_{plane}_DLQ"


def consumer_name(queue: str, port: int, method: str, path: str) -> str:
    """The durable consumer of one sink host (its queue group) for one event."""
    route = f"{port} {method} {path}"
    digest = hashlib.sha256(f"{queue}\0{route}".encode()).hexdigest()[:12]
    return f"{_encode(queue)[: _NAME_MAX - 13]}-{digest}"


def stream_subjects(plane: str, source: str, port: int) -> list[str]:
    """What a source's stream captures on one port: its events, whoever fired them (the
    sender's token is a wildcard; never a request to one replica or to ``~all``: their marker
    sits where ``|`` is), and replays of dead letters."""
    rev = _subjects.reverse_host(source)
    return [f"{plane}.{port}.*.{rev}.|.>", f"{plane}.{port}.*.{rev}.~replay.>"]


def replay_subject(
    plane: str, source: str, port: int, method: str, path: str, consumer: str, *, sender: str = "*"
) -> str:
    """Where `actorbus dlq --replay` (as ``sender``) puts a dead letter back: only its own
    consumer reads it (no live sink subscribes there); with the default ``*`` sender, the
    consumer's filter for every sender."""
    rev = _subjects.reverse_host(source)
    tail = f"{method.upper()}.{_subjects.escape_path(path)}"
    who = sender if sender == "*" else _subjects.host_token(sender)
    return f"{plane}.{port}.{who}.{rev}.~replay.{consumer}.|.{tail}"


def dlq_subject(plane: str, sink_host: str, stream: str, consumer: str) -> str:
    return f"{plane}.~dlq.{_subjects.host_token(sink_host)}.{stream}.{consumer}"


def dlq_subjects(plane: str, sink_host: str | None = None) -> str:
    """The dead letters of one sink host, or of every host on the plane."""
    if sink_host is None:
        return f"{plane}.~dlq.>"
    return f"{plane}.~dlq.{_subjects.host_token(sink_host)}.>"


def inbox_prefix(plane: str, host: str, instance: str) -> str:
    """One instance's JetStream inbox (API answers and pulled messages): the generated ACL
    lets nobody publish there, so only nats-server's JetStream delivers to it."""
    return f"{plane}.js.{_subjects.reverse_host(host)}.~{instance}"


def event_id(from_instance: str, msg_id: str) -> str:
    """The unique id a source stamps on an event (``Nats-Msg-Id``; `Request.event_id`): its
    instance's id is random, its message ids count up."""
    return f"{from_instance}.{msg_id}"


def stream_config(name: str, subjects: list[str], replicas: int = 1) -> dict[str, Any]:
    """A stream that stores what is published on ``subjects`` and never answers a publish
    (``no_ack``: a gathering hears no stray reply)."""
    return {
        "name": name,
        "subjects": sorted(subjects),
        "retention": "limits",
        "storage": "file",
        "num_replicas": replicas,
        "duplicate_window": int(DUPLICATE_WINDOW * _NS),
        "no_ack": True,
        "discard": "old",
    }


def dlq_config(name: str, subject: str, replicas: int = 1) -> dict[str, Any]:
    """The dead-letter stream: publishes are acked, so a letter is confirmed stored."""
    return {
        "name": name,
        "subjects": [subject],
        "retention": "limits",
        "storage": "file",
        "num_replicas": replicas,
    }


def consumer_config(
    name: str, filters: list[str], description: str, max_ack_pending: int = 1000
) -> dict[str, Any]:
    """A durable pull consumer from where the stream is now on (``deliver_policy: new``);
    redeliveries are counted by actorbus (``max_deliver`` unlimited here), so an event whose
    handler crashed the process on its last attempt still becomes a dead letter."""
    return {
        "durable_name": name,
        "description": description,
        "deliver_policy": "new",
        "ack_policy": "explicit",
        "ack_wait": int(ACK_WAIT * _NS),
        "max_deliver": -1,
        "filter_subjects": sorted(filters),
        "max_ack_pending": max_ack_pending,
        "max_waiting": 512,
        "replay_policy": "instant",
    }


def pull_request(batch: int, expires: float, heartbeat: float) -> bytes:
    return json.dumps(
        {"batch": batch, "expires": int(expires * _NS), "idle_heartbeat": int(heartbeat * _NS)}
    ).encode()


def nak(delay: float) -> bytes:
    return b"-NAK " + json.dumps({"delay": int(delay * _NS)}).encode()


def backoff(delivered: int) -> float:
    """Seconds before redelivering an event whose ``delivered``-th attempt raised."""
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** max(0, delivered - 1)))


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a delivered message's ack subject says about it."""

    stream: str
    consumer: str
    delivered: int
    stream_seq: int
    timestamp_ns: int


def parse_ack_subject(subject: str | None) -> Delivered | None:
    """``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` (or the form
    with domain and account hash, 12 tokens or more); None when it is not one."""
    if not subject or not subject.startswith("$JS.ACK."):
        return None
    tokens = subject.split(".")
    if len(tokens) == 9:
        tokens = [*tokens[:2], "_", "_", *tokens[2:]]
    elif len(tokens) < 12:
        return None
    try:
        delivered, sseq, ts = int(tokens[6]), int(tokens[7]), int(tokens[9])
    except ValueError:
        return None
    if delivered < 1 or sseq < 1:
        return None
    return Delivered(tokens[4], tokens[5], delivered, sseq, ts)
