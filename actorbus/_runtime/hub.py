"""Per-process routing above the transport.

One transport subscription per (subject, queue) however many local actors share it, with local
fan-out; co-located unicast calls run inline in the caller's task and replies to local callers
skip the bus. For multicast, a directory of every process's subscriptions (built from their
announcements) says which queues a gather should expect, and a "known responders" cache learns
from gathers; both are dropped for gathers in flight whenever any process's subscriptions change.

Calls in flight learn at once when their replies can no longer come: one watcher task per hub
waits on the transport's connection state and tells every caller when the connection drops, and
a supervisor's announcement that instances died (a worker process killed) reaches the callers
waiting on those instances.
"""

from __future__ import annotations

import functools
import itertools
import logging
import secrets
from typing import Protocol

import msgspec
import trio

from .._observe.metrics import NULL_METRICS, Metrics
from .._observe.spans import SpanRecorder
from .._transport.base import Deliver, Headers, Message, Subscription, Transport, TransportError
from .._wire import subjects as _subjects
from .._wire.directory import Announce, Directory, decode_announce, encode_announce
from .._wire.frames import Fault, Request, Response
from .acks import AckSender
from .fragments import Reassembly
from .intake import Call, call_failed, run_call
from .timers import Timers
from .workers import Workers

__all__ = ["CallWatcher", "Hub", "LocalSubscription"]

log = logging.getLogger("actorbus.hub")


class CallWatcher(Protocol):
    """A caller that fails its calls in flight when their replies can no longer arrive."""

    def connection_lost(self) -> None: ...

    def instances_gone(self, instances: frozenset[str]) -> None: ...

    def publish_refused(self, subject: str) -> None: ...


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

    def __init__(
        self, transport: Transport, plane: str, ack_delay: float = 0.02, identity: str = ""
    ) -> None:
        self.transport = transport
        self.plane = _subjects.validate_plane(plane)
        self.generation = 0
        self._groups: dict[tuple[str, str | None], _Group] = {}
        self._replies: dict[str, Deliver] = {}
        self._reply_subs: dict[str, Subscription] = {}
        self._responders: dict[str, frozenset[str]] = {}
        self._identity = identity  # the hostname this connection is authenticated as, or ""
        self._announce = _subjects.announce_subject(self.plane, identity)
        self._inline: dict[str, list[InlineServer]] = {}
        self._inline_rr = itertools.count()
        self._origin = secrets.token_hex(8)  # tells our own announcements' echo apart
        self._seq = 0
        self._own: set[tuple[str, str]] = set()
        self._listed: dict[tuple[str, str], int] = {}  # durable sinks: listed, not subscribed
        self.directory = Directory(pinned=self._origin)
        self._heard = trio.Event()
        self._announce_sub: Subscription | None = None
        self._gone_sub: Subscription | None = None
        self._watchers: list[CallWatcher] = []
        transport.watch_refusals(self._on_refused)
        self._watch_scope = trio.CancelScope()
        self.spans = SpanRecorder(
            transport, self.plane, subscribe=functools.partial(self.subscribe, announce=False)
        )
        self.timers = Timers()  # ack windows and budgets of every caller on this hub
        self.acks = AckSender(ack_delay)  # delayed acks of every server on this hub
        self.fragments = Reassembly(self.timers)  # fragmented frames being put together
        self.metrics: Metrics = NULL_METRICS  # the App swaps in the Prometheus observer
        #: Handler tasks shared by every server on this hub, while `serve_workers` runs.
        self.workers: Workers[Call] | None = None

    async def start(self, sync_quiet: float = 0.02, sync_max: float = 0.25) -> None:
        """Join the bus: say hello, and learn the other processes' subscriptions.

        Peers answer a hello at once with their whole set; start returns when no answer has
        come for ``sync_quiet`` seconds (at most ``sync_max``), so that even the first gather
        knows its sinks. An answer that comes later counts as a change, as any other.
        """
        self.directory.apply(self._whole_set())  # our own entries: the deltas that follow
        every = _subjects.announce_subscription(self.plane)
        self._announce_sub = await self.transport.subscribe(every, self._on_announce)
        gone = _subjects.gone_subject(self.plane)
        self._gone_sub = await self.transport.subscribe(gone, self._on_gone)
        self._publish_announce(self._whole_set(hello=True))
        await self.spans.start()
        await self.transport.flush()
        with trio.move_on_after(sync_max):
            while True:
                with trio.move_on_after(sync_quiet):
                    await self._heard.wait()
                    self._heard = trio.Event()
                    continue
                break

    async def serve_workers(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the handler tasks of every server on this hub until cancelled: one pool, so a
        multicast reaching many local sinks runs back to back in one task. Each call runs under
        its server's bounds and is cancelled through its own scope; an actor that stops waits
        for its calls, not for these tasks."""
        async with trio.open_nursery() as nursery:
            self.workers = Workers(nursery, run_call, call_failed)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self.workers = None

    async def watch_connection(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until `stop_watching`: each time the transport loses its connection, every caller
        fails its calls in flight at once (no per-call polling)."""
        with self._watch_scope:
            task_status.started()
            while True:
                try:
                    await self.transport.wait_disconnected()
                    for watcher in list(self._watchers):
                        watcher.connection_lost()
                    await self.transport.wait_connected()
                except TransportError:  # closed: nothing more to watch
                    return
                self._invalidate()  # responders may have come and gone meanwhile

    def stop_watching(self) -> None:
        self._watch_scope.cancel()

    def _on_refused(self, subject: str) -> None:
        """nats-server refused a publish on ``subject``: the calls it carried end now."""
        for watcher in list(self._watchers):
            watcher.publish_refused(subject)

    def add_watcher(self, watcher: CallWatcher) -> None:
        self._watchers.append(watcher)

    def remove_watcher(self, watcher: CallWatcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def announce_gone(self, instances: list[str]) -> None:
        """Tell every process that ``instances`` died (their process was killed), so calls
        waiting on them end at once. Raises `TransportError` when it cannot be sent."""
        gone = Announce(self._origin, self._seq, gone=list(instances))
        self.transport.publish(_subjects.gone_subject(self.plane), encode_announce(gone))

    async def aclose(self) -> None:
        self.stop_watching()
        self.fragments.clear()
        await self.spans.aclose()
        if self._gone_sub is not None:
            await self._gone_sub.unsubscribe()
            self._gone_sub = None
        if self._announce_sub is not None:
            self._own.clear()
            self._seq += 1
            self._publish_announce(Announce(self._origin, self._seq, full=True))  # goodbye
            await self._announce_sub.unsubscribe()
            self._announce_sub = None
            with trio.move_on_after(1):  # peers stop expecting us; a dead server is no reason
                try:  # to hang on the way out
                    await self.transport.flush()
                except Exception as exc:
                    log.debug("could not flush the goodbye: %r", exc)

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
            if announce:
                self._announce_change(added=[(subject, queue or "")])
        else:
            group.members.append(deliver)
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
                self._announce_change(removed=[(key[0], key[1] or "")])

    def announce_only(self, subject: str, queue: str) -> None:
        """List ``(subject, queue)`` in the directory without subscribing: a durable sink
        answers gatherings from its JetStream consumer."""
        key = (subject, queue)
        self._listed[key] = self._listed.get(key, 0) + 1
        if self._listed[key] == 1:
            self._announce_change(added=[key])

    def withdraw_only(self, subject: str, queue: str) -> None:
        key = (subject, queue)
        left = self._listed.get(key, 0) - 1
        if left > 0:
            self._listed[key] = left
        elif self._listed.pop(key, None) is not None:
            self._announce_change(removed=[key])

    async def subscribe_replies(self, prefix: str, subject: str, deliver: Deliver) -> Subscription:
        """Answers to one instance's requests (reply subjects ``<prefix>.<msg-id>``): on the bus
        through ``subject`` (`subjects.reply_subscription`), and directly from local peers."""
        self._replies[prefix] = deliver
        sub = await self.transport.subscribe(subject, deliver)
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

    @property
    def has_inline(self) -> bool:
        """True while some local server can serve unicasts inline."""
        return bool(self._inline)

    def inline_server(self, subject: str) -> InlineServer | None:
        """A local server for a unicast on ``subject`` (round robin), or None."""
        servers = self._inline.get(subject)
        if not servers:
            return None
        return servers[next(self._inline_rr) % len(servers)]

    # -- publishing ------------------------------------------------------------------------

    def publish_reply(self, reply: str, data: bytes, host: str) -> None:
        """``host``'s answer (ack, reply, fault) to a request whose reply subject is ``reply``,
        on the subject that names ``host`` as its sender; a caller in this process gets it
        directly."""
        subject = _subjects.answer_subject(reply, self.plane, host)
        deliver = self._replies.get(reply.rpartition(".")[0])
        if deliver is not None:
            deliver(Message(subject, data))
            return
        self.transport.publish(subject, data)

    def publish(
        self, subject: str, data: bytes, *, reply: str | None = None, headers: Headers = None
    ) -> None:
        if headers is None:  # a transport without headers takes no such argument
            self.transport.publish(subject, data, reply=reply)
        else:
            self.transport.publish(subject, data, reply=reply, headers=headers)

    # -- known responders (multicast) ------------------------------------------------------

    def responders(self, subject: str) -> frozenset[str] | None:
        """Queues a multicast on ``subject`` should expect: those the directory lists and those
        the last gather of this generation heard from (a sink slow to ack once is not dropped
        from the expectation); None when neither knows (wait out the ack window)."""
        learned = self._responders.get(subject)
        listed = self.directory.queues_for(subject)
        if learned is None or listed is None:
            return learned if listed is None else listed
        return learned | listed

    def learn_responders(self, subject: str, queues: frozenset[str], generation: int) -> None:
        if generation == self.generation and queues:
            self._responders[subject] = queues
        else:
            self._responders.pop(subject, None)

    def forget_responders(self, subject: str) -> None:
        self._responders.pop(subject, None)

    def _announce_change(
        self,
        added: list[tuple[str, str]] | None = None,
        removed: list[tuple[str, str]] | None = None,
    ) -> None:
        self._own.update(added or ())
        self._own.difference_update(removed or ())
        self._seq += 1
        msg = Announce(self._origin, self._seq, added or [], removed or [])
        self.directory.apply(msg)
        self._invalidate()
        self._publish_announce(msg)

    def _publish_announce(self, msg: Announce) -> None:
        try:
            self.transport.publish(self._announce, encode_announce(msg))
        except Exception as exc:
            log.debug("could not announce a subscription change: %r", exc)

    def _on_announce(self, msg: Message) -> None:
        ann = decode_announce(msg.data)
        if ann is None:
            return
        if ann.gone:  # only on the gone subject, which the ACLs leave to the supervisor
            return
        who = _subjects.announcer(msg.subject)
        if ann.origin == self._origin and who == self._identity:
            return  # ours were applied when we made them
        if who:  # each identity speaks only for its own processes: it cannot touch another's
            ann = msgspec.structs.replace(ann, origin=f"{who}/{ann.origin}")
        if ann.hello and self.directory.answer_hello(trio.current_time()):  # rate-limited
            self._publish_announce(self._whole_set())
        self._heard.set()
        known = self.directory.knows(ann.origin)
        if self.directory.apply(ann):
            self._invalidate()
            # A gap: ask for whole sets, through the same token bucket as hellos (a peer that
            # makes gaps on purpose must not make every process send its whole set each time;
            # until the answer, gathers wait out their ack window for that origin).
            gap = known and not self.directory.knows(ann.origin)
            if gap and self.directory.answer_hello(trio.current_time()):
                self._publish_announce(self._whole_set(hello=True))

    def _on_gone(self, msg: Message) -> None:
        """A supervisor says instances died: the calls waiting on them end now."""
        ann = decode_announce(msg.data)
        if ann is not None and ann.gone:
            gone = frozenset(ann.gone)
            for watcher in list(self._watchers):
                watcher.instances_gone(gone)

    def _whole_set(self, hello: bool = False) -> Announce:
        return Announce(self._origin, self._seq, sorted(self._own), full=True, hello=hello)

    def _invalidate(self) -> None:
        self.generation += 1
        self._responders.clear()
