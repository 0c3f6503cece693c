"""In-process transport: NATS semantics (wildcards, queue groups, no-responders), no server."""

from __future__ import annotations

import itertools
import logging

import trio

from .._wire.sublist import Sublist
from .base import (
    Deliver,
    Headers,
    Message,
    PayloadTooLarge,
    Subscription,
    Transport,
    TransportClosed,
)

__all__ = ["MemoryBus", "MemoryTransport"]

log = logging.getLogger("actorbus.memory")


class _MemorySubscription(Subscription):
    def __init__(
        self, transport: MemoryTransport, subject: str, queue: str | None, deliver: Deliver
    ):
        self.subject = subject
        self.queue = queue
        self.deliver = deliver
        self._transport = transport
        self.active = True

    async def unsubscribe(self) -> None:
        await trio.lowlevel.checkpoint()
        self._transport._bus._remove(self)
        self._transport._mine.discard(self)


class MemoryBus:
    """The shared "server" that several `MemoryTransport` connections attach to."""

    def __init__(self, *, max_payload: int = 1024 * 1024) -> None:
        self.max_payload = max_payload
        self._subs: Sublist[_MemorySubscription] = Sublist()
        self._rr = itertools.count()

    def connect(self) -> MemoryTransport:
        """A new connection to this bus (connected until its ``aclose``)."""
        return MemoryTransport(self)

    def _add(self, sub: _MemorySubscription) -> None:
        self._subs.insert(sub.subject, sub)

    def _remove(self, sub: _MemorySubscription) -> None:
        if sub.active:
            sub.active = False
            self._subs.remove(sub.subject, sub)

    def _route(self, msg: Message) -> int:
        plain: list[_MemorySubscription] = []
        groups: dict[str, list[_MemorySubscription]] = {}
        for sub in self._subs.match(msg.subject):
            if sub.queue is None:
                plain.append(sub)
            else:
                groups.setdefault(sub.queue, []).append(sub)
        targets = plain + [members[next(self._rr) % len(members)] for members in groups.values()]
        token = trio.lowlevel.current_trio_token()
        for sub in targets:
            token.run_sync_soon(_deliver, sub, msg)
        return len(targets)


def _deliver(sub: _MemorySubscription, msg: Message) -> None:
    if not sub.active:
        return
    try:
        sub.deliver(msg)
    except Exception:  # a callback must never take the bus down
        log.exception("subscriber of %s raised while handling a message", sub.subject)


class MemoryTransport(Transport):
    """One connection to a `MemoryBus`; delivery is asynchronous and in publish order."""

    def __init__(self, bus: MemoryBus | None = None) -> None:
        self._bus = bus if bus is not None else MemoryBus()
        self.max_payload = self._bus.max_payload
        self._closed = False
        self._closed_event = trio.Event()
        self._mine: set[_MemorySubscription] = set()

    supports_headers = True
    durable_mode = "live"

    def publish(
        self, subject: str, data: bytes, *, reply: str | None = None, headers: Headers = None
    ) -> None:
        if self._closed:
            raise TransportClosed("memory transport is closed")
        if len(data) > self.max_payload:
            raise PayloadTooLarge(len(data), self.max_payload)
        kept = dict(headers) if headers else None  # the publisher may reuse its dict
        delivered = self._bus._route(Message(subject, data, reply, False, kept))
        if not delivered and reply is not None:
            self._bus._route(Message(reply, b"", None, no_responders=True))

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise TransportClosed("memory transport is closed")
        sub = _MemorySubscription(self, subject, queue, deliver)
        self._bus._add(sub)
        self._mine.add(sub)
        return sub

    async def flush(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self._closed = True
        self._closed_event.set()
        for sub in list(self._mine):
            self._bus._remove(sub)
        self._mine.clear()

    @property
    def connected(self) -> bool:
        """Connected from creation until `aclose`."""
        return not self._closed

    async def wait_connected(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise TransportClosed("memory transport is closed")

    async def wait_disconnected(self) -> None:
        await self._closed_event.wait()

    def describe(self) -> str:
        return "memory"
