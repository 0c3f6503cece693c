"""Per-process routing above the transport.

One transport subscription per (subject, queue) however many local actors share it, with local
fan-out; co-located unicast calls run inline in the caller's task and replies to local callers
skip the bus; a process-wide
"known responders" cache for multicast, invalidated whenever any process announces that its
subscriptions changed.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from typing import Protocol

from .._transport.base import Deliver, Message, Subscription, Transport
from .._wire import subjects as _subjects
from .._wire.frames import Fault, Request, Response
from .metrics import NULL_METRICS, Metrics
from .spans import Tracer

__all__ = ["Hub", "LocalSubscription"]

log = logging.getLogger("actorbus.hub")


class InlineServer(Protocol):
    """A local server that can run a co-located unicast in the caller's task."""

    instance: str

    def serves_inline(self, frame: Request) -> bool: ...

    async def call_inline(self, frame: Request) -> Response | Fault: ...


class _Group:
    """Local members of one transport subscription."""

    __slots__ = ("members", "queue", "rr", "sub", "subject")

    def __init__(self, subject: str, queue: str | None) -> None:
        self.subject = subject
        self.queue = queue
        self.members: list[Deliver] = []
        self.rr = itertools.count()
        self.sub: Subscription | None = None

    def deliver(self, msg: Message) -> None:
        members = self.members
        if not members:
            return
        if self.queue is None:
            for member in list(members):
                member(msg)
        else:
            members[next(self.rr) % len(members)](msg)


class LocalSubscription:
    """One local member's handle; `unsubscribe` is idempotent."""

    def __init__(self, hub: Hub, key: tuple[str, str | None], deliver: Deliver, announce: bool):
        self._hub = hub
        self._key = key
        self._deliver = deliver
        self._announce = announce
        self._active = True

    async def unsubscribe(self) -> None:
        if self._active:
            self._active = False
            await self._hub._leave(self._key, self._deliver, self._announce)


class Hub:
    """Owns the transport for one App; every actor of the App subscribes and publishes here."""

    def __init__(self, transport: Transport, plane: str) -> None:
        self.transport = transport
        self.plane = _subjects.validate_plane(plane)
        self.generation = 0
        self._groups: dict[tuple[str, str | None], _Group] = {}
        self._replies: dict[str, Deliver] = {}
        self._reply_subs: dict[str, Subscription] = {}
        self._responders: dict[str, frozenset[str]] = {}
        self._announce = _subjects.announce_subject(self.plane)
        self._inline: dict[str, list[InlineServer]] = {}
        self._inline_rr = itertools.count()
        self._origin = secrets.token_bytes(8)  # tells our own announcements' echo apart
        self._announce_sub: Subscription | None = None
        self.tracer = Tracer(transport, self.plane)
        self.metrics: Metrics = NULL_METRICS  # the App swaps in the Prometheus observer

    async def start(self) -> None:
        self._announce_sub = await self.transport.subscribe(self._announce, self._on_announce)
        await self.tracer.start()

    async def aclose(self) -> None:
        await self.tracer.aclose()
        if self._announce_sub is not None:
            await self._announce_sub.unsubscribe()
            self._announce_sub = None

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None, announce: bool = True
    ) -> LocalSubscription:
        """Join (or open) the process's subscription for ``(subject, queue)``."""
        key = (subject, queue)
        group = self._groups.get(key)
        if group is None:
            group = _Group(subject, queue)
            self._groups[key] = group
            group.members.append(deliver)
            try:
                group.sub = await self.transport.subscribe(subject, group.deliver, queue=queue)
            except BaseException:
                del self._groups[key]
                raise
        else:
            group.members.append(deliver)
        if announce:
            self._announce_change()
        return LocalSubscription(self, key, deliver, announce)

    async def _leave(self, key: tuple[str, str | None], deliver: Deliver, announce: bool) -> None:
        group = self._groups.get(key)
        if group is None:
            return
        if deliver in group.members:
            group.members.remove(deliver)
        if not group.members:
            del self._groups[key]
            if group.sub is not None:
                await group.sub.unsubscribe()
        if announce:
            self._announce_change()

    async def subscribe_replies(self, prefix: str, deliver: Deliver) -> Subscription:
        """Replies for one instance: ``<prefix>.*`` on the bus, and directly from local peers."""
        self._replies[prefix] = deliver
        sub = await self.transport.subscribe(prefix + ".*", deliver)
        self._reply_subs[prefix] = sub
        return sub

    async def unsubscribe_replies(self, prefix: str) -> None:
        self._replies.pop(prefix, None)
        sub = self._reply_subs.pop(prefix, None)
        if sub is not None:
            await sub.unsubscribe()

    # -- co-located calls -------------------------------------------------------------------

    def add_inline(self, subject: str, server: InlineServer) -> None:
        """``server`` can serve unicasts on ``subject`` in the caller's task."""
        self._inline.setdefault(subject, []).append(server)

    def remove_inline(self, subject: str, server: InlineServer) -> None:
        servers = self._inline.get(subject)
        if servers and server in servers:
            servers.remove(server)
            if not servers:
                del self._inline[subject]

    def inline_server(self, subject: str) -> InlineServer | None:
        """A local server for a unicast on ``subject`` (round robin), or None."""
        servers = self._inline.get(subject)
        if not servers:
            return None
        return servers[next(self._inline_rr) % len(servers)]

    # -- publishing ------------------------------------------------------------------------

    def publish_reply(self, subject: str, data: bytes) -> None:
        """Acks and replies to a caller in this process are handed over directly."""
        deliver = self._replies.get(subject.rpartition(".")[0])
        if deliver is not None:
            deliver(Message(subject, data))
            return
        self.transport.publish(subject, data)

    def publish(self, subject: str, data: bytes, *, reply: str | None = None) -> None:
        self.transport.publish(subject, data, reply=reply)

    # -- known responders (multicast) ------------------------------------------------------

    def responders(self, subject: str) -> frozenset[str] | None:
        return self._responders.get(subject)

    def learn_responders(self, subject: str, queues: frozenset[str], generation: int) -> None:
        if generation == self.generation and queues:
            self._responders[subject] = queues
        else:
            self._responders.pop(subject, None)

    def forget_responders(self, subject: str) -> None:
        self._responders.pop(subject, None)

    def _announce_change(self) -> None:
        self._invalidate()
        try:
            self.transport.publish(self._announce, self._origin)
        except Exception as exc:
            log.debug("could not announce a subscription change: %r", exc)

    def _on_announce(self, msg: Message) -> None:
        if msg.data != self._origin:  # our own were applied when we made them
            self._invalidate()

    def _invalidate(self) -> None:
        self.generation += 1
        self._responders.clear()
