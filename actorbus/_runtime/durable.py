"""Durable sinks: one actor instance's JetStream consumer of one event, and its pull loop.

The source's events are captured by a stream per source (created or widened by the first
durable sink that needs it); each sink host has one durable pull consumer per event, which its
replicas share, so an event is handled by one replica at least once even when every replica
was down when it fired. A pulled event goes through the same receive path as a live one (gate,
workers, budget, trace); its outcome settles it: a return acks it, a raise naks it with backoff,
and after ``max_deliver`` attempts it becomes a dead letter (with its last error) in the plane's
dead-letter stream. A handler that takes long keeps its event with in-progress acks. The sink
does not subscribe live: an open gathering still gets its ack and reply, as the source stamps
the gathering's reply subject on the event.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

import msgspec
import trio

from .._transport.base import Message, Subscription, TransportError
from .._transport.jetstream import JetStream
from .._wire import frames as _frames
from .._wire import jetstream as _js
from .._wire import subjects as _subjects
from .guard import WireGuard
from .intake import Served, decode_shared

__all__ = ["DurableSink", "Outcome", "Settle", "Take"]

log = logging.getLogger("actorbus.durable")

#: A pull waits this long for events; the server says it is alive every `HEARTBEAT`.
EXPIRES: Final = 2.0
HEARTBEAT: Final = 0.5
#: In-progress acks go out this often for every event in hand (well within `ACK_WAIT`).
PROGRESS_EVERY: Final = _js.ACK_WAIT / 3
_REMEMBERED_ERRORS: Final = 4096
_MAX_ERROR: Final = 1000

#: A call's outcome: its reply frame, or None (cancelled, shut down).
Outcome = _frames.Response | _frames.Fault | None
#: Called once with a call's outcome.
Settle = Callable[[Outcome], None]
#: The server's intake for one pulled event: True when it was taken in.
Take = Callable[[_frames.Request, Served, str | None, int, Settle], bool]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_ERROR]


class DurableSink:
    """One instance's consumer of one event: `setup`, then `run` until `stop`."""

    def __init__(
        self,
        js: JetStream,
        plane: str,
        host: str,
        served: Served,
        take: Take,
        guard: WireGuard,
        replicas: int = 3,
    ) -> None:
        spec = served.spec
        assert spec.source is not None
        self.js, self.plane, self.host, self.served = js, plane, host, served
        self._take, self._guard, self._replicas = take, guard, replicas
        self.source = spec.source.host
        self.route = (self.source, spec.port, spec.method, spec.path)
        self.stream = _js.stream_name(plane, self.source)
        self.consumer = _js.consumer_name(served.queue, spec.port, spec.method, spec.path)
        #: The event from any sender (what a live sink subscribes), and its replays.
        self.subject = _subjects.subscription_subject(
            plane, spec.port, self.source, spec.method, spec.path
        )
        self.replay = _js.replay_subject(
            plane, self.source, spec.port, spec.method, spec.path, self.consumer
        )
        self.max_deliver = spec.max_deliver
        self.capacity = min(2 * max(1, served.gate.limit), 1000)  # a batch ahead of the handlers
        self._in_hand: dict[str, _js.Delivered] = {}
        self._errors: OrderedDict[int, str] = OrderedDict()  # stream seq -> last error
        self._letters: trio.MemorySendChannel[tuple[Message, _js.Delivered, str]]
        self._letters_in: trio.MemoryReceiveChannel[tuple[Message, _js.Delivered, str]]
        self._letters, self._letters_in = trio.open_memory_channel(self.capacity * 2)
        self._changed = trio.Event()
        self._pull_left = 0
        self._heard = 0.0
        self._stopping = False
        #: Set once no pull is open any more: what was pulled went back or is in hand.
        self.drained = trio.Event()
        self._inbox = ""
        self._sub: Subscription | None = None

    async def setup(self) -> None:
        """Create (or widen) the source's stream, the dead-letter stream and the consumer."""
        spec = self.served.spec
        subjects = _js.stream_subjects(self.plane, self.source, spec.port)
        await self.js.ensure_stream(_js.stream_config(self.stream, subjects, self._replicas))
        dlq = _js.dlq_stream(self.plane)
        await self.js.ensure_stream(
            _js.dlq_config(dlq, _js.dlq_subjects(self.plane), self._replicas)
        )
        about = f"{self.served.queue} handles {spec.method} {self.source}:{spec.port}{spec.path}"
        config = _js.consumer_config(
            self.consumer, [self.subject, self.replay], about, max_ack_pending=1000
        )
        await self.js.ensure_consumer(self.stream, config)
        self._inbox, self._sub = await self.js.pull_inbox(self._on_pulled)

    def stop(self) -> None:
        """Pull no more; events still arriving from the open pull go back at once."""
        self._stopping = True
        self._changed.set()

    async def aclose(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def run(self) -> None:
        """Pull until `stop`; then keep the events in hand (in-progress acks, dead letters)
        until the handlers' nursery ends."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._progress)
                nursery.start_soon(self._dead_letters)
                await self._pull_loop()
                with trio.move_on_after(EXPIRES + HEARTBEAT):  # the open pull's last events
                    while self._pull_left > 0:  # (nak'ed as they come: another replica's now)
                        await self._wait_changed()
                await self.aclose()
                self.drained.set()  # in-progress acks and dead letters go on till cancelled
        finally:
            self.drained.set()
            with trio.CancelScope(shield=True):
                await self.aclose()

    # -- pulling ---------------------------------------------------------------------------

    async def _pull_loop(self) -> None:
        transport = self.js.transport
        while not self._stopping:
            room = self.capacity - len(self._in_hand)
            if room <= 0 or not transport.connected:
                with trio.move_on_after(HEARTBEAT):
                    await self._wait_changed()
                continue
            self._pull_left, self._heard = room, trio.current_time()
            try:
                self.js.pull(self.stream, self.consumer, self._inbox, room, EXPIRES, HEARTBEAT)
            except TransportError as exc:
                log.debug("%s: cannot pull %s: %s", self.host, self.consumer, exc)
                self._pull_left = 0
            while self._pull_left > 0 and not self._stopping:
                with trio.move_on_after(HEARTBEAT):
                    await self._wait_changed()
                if trio.current_time() - self._heard > 3 * HEARTBEAT:
                    self._pull_left = 0  # the pull is gone (reconnect, leader change): ask again

    async def _wait_changed(self) -> None:
        await self._changed.wait()
        self._changed = trio.Event()

    def _on_pulled(self, msg: Message) -> None:
        """One message on the pull inbox: a status about the pull, or an event to handle."""
        if msg.no_responders:  # the consumer is gone: the watchdog asks again, slowly
            log.debug("%s: nobody serves the pulls of %s", self.host, self.consumer)
            return
        headers = msg.headers or {}
        meta = _js.parse_ack_subject(msg.reply)
        if meta is None:
            status = headers.get("Status")
            if status is None:
                self._guard.count("malformed", f"a message on {self.consumer}'s inbox")
                return
            self._heard = trio.current_time()
            if status != "100":  # 404, 408: the pull ended; 409: refused or gone
                if status == "409":
                    log.debug("%s: pull of %s: %s", self.host, self.consumer, headers)
                self._pull_left = 0
                self._changed.set()
            return
        if meta.stream != self.stream or meta.consumer != self.consumer:
            self._guard.count("malformed", f"an ack subject of {meta.stream}/{meta.consumer}")
            return
        self._heard = trio.current_time()
        self._pull_left -= 1
        if self._pull_left <= 0:
            self._changed.set()
        if self._stopping:
            self._ack(msg.reply, _js.nak(0))
            return
        self._dispatch(msg, meta)

    def _dispatch(self, msg: Message, meta: _js.Delivered) -> None:
        ack = msg.reply
        assert ack is not None
        live = _subjects.matches(self.subject, msg.subject)
        if not live and not _subjects.matches(self.replay, msg.subject):
            self._dead(msg, meta, f"stored on {msg.subject}, not {self.subject}")
            return
        try:
            frame = decode_shared(msg.data)
        except _frames.FrameError as exc:
            self._dead(msg, meta, f"not an actorbus event: {exc}")
            return
        if (
            type(frame) is not _frames.Request
            or (
                frame.host,
                frame.port,
                frame.method,
                frame.path,
            )
            != self.route
        ):
            self._dead(msg, meta, f"the frame does not name the event of {self.subject}")
            return
        if live and _subjects.request_source(msg.subject) != frame.from_host:
            self._dead(msg, meta, f"the frame's sender is not the one {msg.subject} names")
            return
        if meta.delivered > self.max_deliver:  # earlier attempts ended without an outcome
            why = self._errors.pop(meta.stream_seq, None) or (
                f"no outcome after {meta.delivered - 1} deliveries "
                "(the handler's process stopped, or it ran past its ack wait)"
            )
            self._dead(msg, meta, why)
            return
        reply = None
        if live and not frame.oneway:
            fresh = time.time_ns() < meta.timestamp_ns + frame.budget_ms * 1_000_000
            reply = (msg.headers or {}).get(_js.REPLY_HEADER) if fresh else None
        frame = msgspec.structs.replace(frame, delivered=meta.delivered)
        self._in_hand[ack] = meta
        settle = functools.partial(self._settle, msg, meta)
        if not self._take(frame, self.served, reply, len(msg.data), settle):
            del self._in_hand[ack]
            self._ack(ack, _js.nak(_js.BACKOFF_BASE))

    def _settle(
        self,
        msg: Message,
        meta: _js.Delivered,
        out: _frames.Response | _frames.Fault | None,
    ) -> None:
        ack = msg.reply
        assert ack is not None
        self._in_hand.pop(ack, None)
        self._changed.set()
        if isinstance(out, _frames.Response):
            self._errors.pop(meta.stream_seq, None)
            self._ack(ack, _js.ACK)
        elif out is None or (self._stopping and out.status == 503):
            self._ack(ack, _js.nak(0))  # not handled here: another replica may take it now
        else:
            error = _one_line(f"{out.status} {out.type}: {out.message}")
            if meta.delivered >= self.max_deliver:
                self._dead(msg, meta, error)
            else:
                self._errors[meta.stream_seq] = error
                while len(self._errors) > _REMEMBERED_ERRORS:
                    self._errors.popitem(last=False)
                self._ack(ack, _js.nak(_js.backoff(meta.delivered)))

    def _ack(self, subject: str | None, data: bytes) -> None:
        if subject is None:
            return
        try:
            self.js.reply(subject, data)
        except TransportError as exc:  # unacked: JetStream redelivers it
            log.debug("%s: could not ack on %s: %s", self.host, subject, exc)

    # -- in progress, dead letters ---------------------------------------------------------

    async def _progress(self) -> None:
        """Every event in hand (running or waiting its turn) stays ours: +WPI."""
        while True:
            await trio.sleep(PROGRESS_EVERY)
            for ack in list(self._in_hand):
                self._ack(ack, _js.IN_PROGRESS)

    def _dead(self, msg: Message, meta: _js.Delivered, error: str) -> None:
        assert msg.reply is not None
        self._in_hand[msg.reply] = meta
        try:
            self._letters.send_nowait((msg, meta, _one_line(error)))
        except trio.WouldBlock:  # the writer is behind: JetStream redelivers it later
            del self._in_hand[msg.reply]
            self._ack(msg.reply, _js.nak(_js.BACKOFF_CAP))

    async def _dead_letters(self) -> None:
        """Store each dead letter (confirmed by its stream), then drop it from the consumer."""
        subject = _js.dlq_subject(self.plane, self.host, self.stream, self.consumer)
        async for msg, meta, error in self._letters_in:
            ack = msg.reply
            assert ack is not None
            spec = self.served.spec
            headers = {
                _js.MSG_ID_HEADER: f"{self.stream}.{self.consumer}.{meta.stream_seq}",
                _js.ERROR_HEADER: error,
                _js.EVENT_ID_HEADER: (msg.headers or {}).get(_js.MSG_ID_HEADER, ""),
                "Actorbus-Sink": self.host,
                "Actorbus-Queue": self.served.queue,
                "Actorbus-Source": self.source,
                "Actorbus-Route": f"{spec.method} {spec.port} {spec.path}",
                "Actorbus-Stream": self.stream,
                "Actorbus-Consumer": self.consumer,
                "Actorbus-Seq": str(meta.stream_seq),
                "Actorbus-Deliveries": str(meta.delivered),
            }
            try:
                await self.js.request(subject, msg.data, headers=headers)
            except TransportError as exc:
                log.warning("%s: could not store a dead letter: %s", self.host, exc)
                self._in_hand.pop(ack, None)
                self._ack(ack, _js.nak(_js.BACKOFF_CAP))
                continue
            self._in_hand.pop(ack, None)
            self._changed.set()
            log.warning(
                "%s: event %s is a dead letter after %d deliveries: %s",
                self.host,
                headers[_js.EVENT_ID_HEADER] or meta.stream_seq,
                meta.delivered,
                error,
            )
            self._ack(ack, _js.TERM)
