"""Inbound bookkeeping of one actor instance: its routes, the bound in front of each handler,
and the calls it has taken in. Pure data; the server drives it.

Trust: a call's key holds the caller's random token as well as its instance and message id,
so a peer that copies somebody else's ids makes a different key, never a collision.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
import trio

from .._wire import frames as _frames
from .callers import Callers
from .declarations import HandlerSpec

__all__ = [
    "DEFAULT_INBOX",
    "DEFAULT_INBOX_BYTES",
    "Call",
    "CallOwner",
    "Gate",
    "Key",
    "Route",
    "Served",
    "call_failed",
    "decode_shared",
    "run_call",
]

#: Fire-and-forget requests one handler holds before dropping any: NATS's own default
#: pending limits for a subscription (nats.go and nats-py), in messages and in bytes.
DEFAULT_INBOX = 512 * 1024
DEFAULT_INBOX_BYTES = 128 * 1024 * 1024

Route = tuple[str, int, str, str]  # host, port, method, path
Key = tuple[str, str, str]  # from_instance, msg_id, token


_last_decoded: tuple[bytes, _frames.Frame] = (b"", _frames.Cancel("", "", ""))


def decode_shared(data: bytes) -> _frames.Frame:
    """Decode, reusing the last result: a multicast reaching N local sinks is decoded once."""
    global _last_decoded
    last_data, last_frame = _last_decoded
    if data == last_data:
        return last_frame
    frame = _frames.decode(data)
    if type(frame) is _frames.Request and frame.delivered:  # only JetStream's count is true
        frame = msgspec.structs.replace(frame, delivered=0)
    _last_decoded = (data, frame)
    return frame


log = logging.getLogger("actorbus.actor")


class Gate:
    """The bound of one handler: ``limit`` calls run at once; behind them, an inbox.

    The inbox holds frames, not tasks. Calls that wait for an answer may queue ``room`` deep;
    past that the caller gets `Overloaded` at once (it can retry elsewhere). Fire-and-forget
    requests (events) have nobody to tell, so they wait up to ``inbox`` messages and
    ``inbox_bytes`` bytes (NATS's slow-consumer bounds) before any is dropped.
    Plain ``def`` handlers run in worker threads under a limiter of the same size.
    """

    __slots__ = (
        "_threads",
        "inbox",
        "inbox_bytes",
        "limit",
        "room",
        "running",
        "waiting",
        "waiting_bytes",
        "waiting_oneway",
    )

    def __init__(
        self,
        limit: int,
        room: int,
        inbox: int = DEFAULT_INBOX,
        inbox_bytes: int = DEFAULT_INBOX_BYTES,
    ) -> None:
        self.limit = limit
        self.room = room
        self.inbox = inbox
        self.inbox_bytes = inbox_bytes
        self.running = 0
        self.waiting: collections.deque[Call] = collections.deque()
        self.waiting_oneway = 0  # of `waiting`, the fire-and-forget ones
        self.waiting_bytes = 0  # their frames' size
        self._threads: trio.CapacityLimiter | None = None

    @property
    def free(self) -> bool:
        """A call may start now (nobody is waiting ahead of it)."""
        return self.running < self.limit and not self.waiting

    def has_room(self, oneway: bool, size: int) -> bool:
        """Whether one more call may start or wait (``size``: its frame's bytes)."""
        if self.running < self.limit and not self.waiting:
            return True
        if oneway:
            return (
                self.waiting_oneway < self.inbox and self.waiting_bytes + size <= self.inbox_bytes
            )
        return len(self.waiting) - self.waiting_oneway < self.room

    def push(self, call: Call) -> None:
        """Line ``call`` up (after `has_room` said yes and it cannot start now)."""
        self.waiting.append(call)
        if call.reply is None:
            self.waiting_oneway += 1
            self.waiting_bytes += call.size

    def pop(self) -> Call:
        """The next call in line, oldest first (events and calls keep their arrival order)."""
        call = self.waiting.popleft()
        if call.reply is None:
            self.waiting_oneway -= 1
            self.waiting_bytes -= call.size
        return call

    @property
    def threads(self) -> trio.CapacityLimiter:
        if self._threads is None:
            self._threads = trio.CapacityLimiter(self.limit)
        return self._threads


class Served:
    """What one route serves: its handler, the queue group it answers as, and its gate."""

    __slots__ = ("callers", "gate", "queue", "spec")

    def __init__(
        self, spec: HandlerSpec, queue: str, gate: Gate, callers: Callers | None = None
    ) -> None:
        self.spec = spec
        self.queue = queue
        self.gate = gate
        self.callers = callers  # None: anyone may call


class Call:
    """One request taken in: running, or waiting at its gate.

    Its cancel scope is its worker's, lent while it runs (a waiting call costs a frame):
    ``deadline`` is when its budget runs out, or None for a fire-and-forget request, whose
    budget starts with its handler (nobody waits for it, so time in the inbox is not counted).
    """

    __slots__ = (
        "cancelled",
        "deadline",
        "frame",
        "gate",
        "key",
        "outcome",
        "owner",
        "queue",
        "reply",
        "scope",
        "settle",
        "size",
        "spec",
    )

    def __init__(
        self,
        frame: _frames.Request,
        spec: HandlerSpec,
        gate: Gate,
        queue: str,
        reply: str | None,
        deadline: float | None,
        size: int = 0,
    ) -> None:
        self.frame = frame
        self.spec = spec
        self.gate = gate
        self.queue = queue
        self.reply = reply
        self.deadline = deadline
        self.size = size
        self.scope: trio.CancelScope | None = None
        self.cancelled = False  # the caller sent a cancel (while it waited, or ran)
        #: What to answer when its scope stopped it (set as the `trio.Cancelled` goes by).
        self.outcome: _frames.Response | _frames.Fault | None = None
        #: A durable sink's event: told the outcome once (ack, nak or dead letter).
        self.settle: Callable[[Any], None] | None = None
        self.key: Key = (frame.from_instance, frame.msg_id, frame.token)
        #: The server that took it in: a worker runs it there (`run_call`).
        self.owner: CallOwner | None = None

    def finish(self, out: Any) -> None:
        """Tell a durable sink's event its outcome, once; never raises."""
        settle, self.settle = self.settle, None
        if settle is not None:
            try:
                settle(out)
            except Exception as exc:
                log.warning("could not settle %s: %r", self.frame.msg_id, exc)


class CallOwner(Protocol):
    """The server a call runs in: its handler, and what to do when that has a bug."""

    def handle(self, call: Call, scope: trio.CancelScope) -> Awaitable[None]: ...

    def failed(self, call: Call, exc: Exception) -> None: ...


def run_call(call: Call, scope: trio.CancelScope) -> Awaitable[None]:
    """A worker's item: ``call`` runs in the server that took it in, under ``scope``."""
    assert call.owner is not None
    return call.owner.handle(call, scope)


def call_failed(call: Call, exc: Exception) -> None:
    """A worker's item raised (a bug of the runtime's, not the handler's): its server says."""
    assert call.owner is not None
    call.owner.failed(call, exc)
