"""Inbound bookkeeping of one actor instance: its routes, the bound in front of each handler,
and the calls it has taken in. Pure data; the server drives it.

Trust: a call's key holds the caller's random token as well as its instance and message id,
so a peer that copies somebody else's ids makes a different key, never a collision.
"""

from __future__ import annotations

import collections

import trio

from .._wire import frames as _frames
from .declarations import HandlerSpec

__all__ = ["Call", "Gate", "Key", "Route", "Served", "decode_shared"]

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
    _last_decoded = (data, frame)
    return frame


class Gate:
    """The bound of one handler: ``limit`` calls run at once, ``room`` more wait in line.

    Waiting calls are frames in a deque, not tasks: a flood costs at most ``room`` frames.
    Plain ``def`` handlers run in worker threads under a limiter of the same size.
    """

    __slots__ = ("_threads", "limit", "room", "running", "waiting")

    def __init__(self, limit: int, room: int) -> None:
        self.limit = limit
        self.room = room
        self.running = 0
        self.waiting: collections.deque[Call] = collections.deque()
        self._threads: trio.CapacityLimiter | None = None

    @property
    def free(self) -> bool:
        """A call may start now (nobody is waiting ahead of it)."""
        return self.running < self.limit and not self.waiting

    @property
    def threads(self) -> trio.CapacityLimiter:
        if self._threads is None:
            self._threads = trio.CapacityLimiter(self.limit)
        return self._threads


class Served:
    """What one route serves: its handler, the queue group it answers as, and its gate."""

    __slots__ = ("gate", "queue", "spec")

    def __init__(self, spec: HandlerSpec, queue: str, gate: Gate) -> None:
        self.spec = spec
        self.queue = queue
        self.gate = gate


class Call:
    """One request taken in: running, or waiting at its gate."""

    __slots__ = ("frame", "gate", "key", "queue", "reply", "scope", "spec")

    def __init__(
        self,
        frame: _frames.Request,
        spec: HandlerSpec,
        gate: Gate,
        queue: str,
        reply: str | None,
        scope: trio.CancelScope,
    ) -> None:
        self.frame = frame
        self.spec = spec
        self.gate = gate
        self.queue = queue
        self.reply = reply
        self.scope = scope
        self.key: Key = (frame.from_instance, frame.msg_id, frame.token)
