"""The native client's bookkeeping: subscriptions, PINGs waiting for their PONG, and `Lost`,
the signal that the current connection is gone (the reconnect loop reads its ``auth``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import trio

from . import natsproto as proto
from .base import Deliver, Message, Subscription

__all__ = ["Handle", "LazyHeaders", "Lost", "Pong", "Sub", "headed_message"]


class LazyHeaders(Mapping[str, str]):
    """A header block parsed on first use: most receivers (a live sink of an event that carries
    ``Nats-Msg-Id``) never read it, and parsing every block cost as much as the rest of the
    receive path."""

    __slots__ = ("_block", "_parsed")

    def __init__(self, block: bytes) -> None:
        self._block = block
        self._parsed: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        if self._parsed is None:
            self._parsed = proto.parse_headers(self._block)
        return self._parsed

    def __getitem__(self, key: str) -> str:
        return self._headers()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __repr__(self) -> str:
        return f"LazyHeaders({self._headers()!r})"


def headed_message(msg: proto.Msg) -> Message:
    """An ``HMSG`` as a `Message`: the no-responders status, or the message and its headers
    (parsed when first read)."""
    headers = msg.headers or b""
    if not msg.payload and headers.startswith(proto.NO_RESPONDERS_STATUS):
        return Message(msg.subject, b"", None, True)
    return Message(msg.subject, msg.payload, msg.reply, False, LazyHeaders(headers))


class Lost(OSError):
    """The current connection is gone (EOF, error, stale, fatal -ERR, lame duck); ``auth`` is
    the server's text when it dropped us over credentials."""

    def __init__(self, message: str, auth: str | None = None) -> None:
        super().__init__(message)
        self.auth = auth


@dataclass(slots=True)
class Sub:
    """One subscription, replayed with the same sid and queue after a reconnect."""

    sid: int
    subject: str
    queue: str | None
    deliver: Deliver


class Pong:
    """One PING waiting for its PONG; ``ok`` is False when the connection dropped first;
    ``refused`` is the server's error for a subscription sent before the PING."""

    __slots__ = ("done", "ok", "refused")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.ok = False
        self.refused: str | None = None


class Handle(Subscription):
    """What `subscribe` returns: unsubscribing calls ``drop(sid)``."""

    def __init__(self, sub: Sub, drop: Callable[[int], None]) -> None:
        self.subject = sub.subject
        self.queue = sub.queue
        self._drop = drop
        self._sid = sub.sid

    async def unsubscribe(self) -> None:
        await trio.lowlevel.checkpoint()
        self._drop(self._sid)
