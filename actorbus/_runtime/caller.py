"""Outbound calls: unicast, time budget, depth, cancellation across the bus; multicasts start
here and are read through a `Gathering`."""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Coroutine
from typing import Any

import msgspec
import trio

from .._observe.metrics import status_of
from .._observe.spans import current_span
from .._transport.base import Message, TransportError
from .._transport.base import PayloadTooLarge as _TransportTooLarge
from .._wire import callstate as _callstate
from .._wire import frames as _frames
from .._wire import jetstream as _jetstream
from .._wire import subjects as _subjects
from .._wire.tokens import TokenPool
from . import errors as _errors
from .callerpieces import Outgoing, PieceReader
from .context import CallOptions, current_request
from .gathering import Gathering
from .guard import WireGuard
from .hub import Hub
from .replies import (
    DISCONNECTED,
    NO_RESPONDERS,
    TIMED_OUT,
    Decode,
    Gone,
    Mailbox,
    Refused,
    Reply,
    late_acks,
    outcome_unknown,
    settle,
    until_own_deadline,
)

__all__ = ["Caller", "Reply"]

_HEARD_ROUTES = 4096

log = logging.getLogger("actorbus.call")


class Caller(PieceReader):
    """The outbound side of one identity (an actor instance or an App's edge); frames past
    the server's ``max_payload`` go and come in pieces (`PieceReader`)."""

    def __init__(
        self,
        hub: Hub,
        host: str,
        instance: str,
        options: CallOptions,
        guard: WireGuard | None = None,
    ) -> None:
        self.hub = hub
        self.host = host
        self.instance = instance
        self.options = options
        self.guard = guard if guard is not None else WireGuard(host)
        self.reply_prefix = _subjects.reply_prefix(hub.plane, host, instance)
        self._pending: dict[str, Mailbox] = {}
        # Acks and replies counted per route (request subject): a call whose ack window
        # closes while its route answered other calls is behind a backlog, not unheard.
        self._heard: dict[str, int] = {}
        self._flushed: trio.Event | None = None  # the round trip of `_barrier` under way
        self._flush_started = 0.0  # ... and when it was sent
        self._ids = 0
        self._tokens = TokenPool()  # each call's secret, from a pooled random buffer
        self._started = False
        # Calls given up before any responder acked: a late ack still gets its cancel frame.
        self._abandoned: collections.OrderedDict[str, tuple[_frames.Request, float]] = (
            collections.OrderedDict()
        )
        self._outgoing: dict[str, Outgoing] = {}  # requests in pieces, until their call ends

    async def start(self) -> None:
        subject = _subjects.reply_subscription(self.hub.plane, self.host, self.instance)
        await self.hub.subscribe_replies(self.reply_prefix, subject, self._on_reply)
        self.hub.add_watcher(self)
        self._started = True

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            self.hub.remove_watcher(self)
            await self.hub.unsubscribe_replies(self.reply_prefix)

    def connection_lost(self) -> None:
        """The connection dropped: every call in flight ends now, its outcome unknown."""
        for box in self._pending.values():
            box.put(DISCONNECTED)

    def instances_gone(self, instances: frozenset[str]) -> None:
        """Instances died: the calls they acknowledged end now, their outcome unknown."""
        if self._pending:
            gone = Gone(instances)
            for box in self._pending.values():
                box.put(gone)

    def publish_refused(self, subject: str) -> None:
        """nats-server refused the requests sent on ``subject``: they reached nobody. (nats-py
        reports the subject lower-cased; then the comparison is too.)"""
        refused = None
        folded = subject == subject.lower()
        for box in self._pending.values():
            if box.route == subject or (folded and box.route.lower() == subject):
                refused = refused or Refused(subject)
                box.put(refused)

    def _on_reply(self, msg: Message) -> None:
        """The reply reader: only acks and replies that carry their call's token, sent by the
        host they name, get through; a no-responders status only on the server's subject."""
        msg_id = msg.subject.rpartition(".")[2]
        box = self._pending.get(msg_id)
        sender = _subjects.reply_sender(msg.subject, self.hub.plane)
        if msg.no_responders:
            if sender != _subjects.REPLY_FROM_SERVER:
                self.guard.count("unauthenticated", f"a no-responders status from {sender}")
            elif box is not None:
                box.put(NO_RESPONDERS)
            return
        if sender == _subjects.REPLY_FROM_SERVER:
            self.guard.count("unauthenticated", f"a frame on the server's subject {msg.subject}")
            return
        try:
            frame = _frames.decode(msg.data)
        except _frames.FrameError as exc:
            self.guard.count("malformed", f"on {msg.subject}: {exc}")
            return
        if type(frame) is _frames.Fragment:
            self._on_piece(frame, sender, box, msg_id)
            return
        if not isinstance(frame, _frames.Ack | _frames.Response | _frames.Fault):
            self.guard.count("malformed", f"a {type(frame).__name__} on {msg.subject}")
            return
        self._accept(frame, sender, box, msg_id)

    def _accept(
        self,
        frame: _frames.Ack | _frames.Response | _frames.Fault,
        sender: str,
        box: Mailbox | None,
        msg_id: str,
    ) -> None:
        """An answer that decoded (whole, or put together from pieces) from ``sender``."""
        if _subjects.host_token(frame.from_host) != sender:  # a reply in another host's name
            self.guard.count("unauthenticated", f"{sender} answered as {frame.from_host}")
            return
        if box is None:
            abandoned = self._abandoned.get(msg_id)  # kept: several sinks may ack late
            if abandoned is not None and frame.token == abandoned[0].token:
                if isinstance(frame, _frames.Ack):
                    self.cancel(abandoned[0], {frame.from_instance: frame.from_host})
            else:
                self.guard.count("unmatched", f"a {type(frame).__name__} for call {msg_id}")
            return
        if frame.token != box.token:
            self.guard.count("unauthenticated", f"a {type(frame).__name__} for call {msg_id}")
            return
        if type(frame) is _frames.Response and len(frame.body) > self.options.max_body:
            frame = self._too_large(frame)  # a responder with a larger limit than ours
        heard = self._heard
        if len(heard) >= _HEARD_ROUTES and box.route not in heard:
            heard.clear()  # bounded: many direct addresses; forgetting only shortens a wait
        heard[box.route] = heard.get(box.route, 0) + 1
        if not box.put(frame):
            log.warning(
                "%s: reply mailbox of call %s is full; dropped a message", self.host, msg_id
            )

    # -- building requests ---------------------------------------------------------------

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self._ids:x}"

    def prepare(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: msgspec.Raw,
        *,
        multicast: bool,
        oneway: bool = False,
    ) -> tuple[_frames.Request, _callstate.Budget, float]:
        if len(body) > self.options.max_body:  # on every bus, and for co-located calls
            size, limit = len(body), self.options.max_body
            raise _errors.PayloadTooLarge(
                f"the request to {host}{path} is {size} bytes, over the limit of {limit} "
                "(App(max_body=...))",
                size,
                limit,
            )
        inbound = current_request.get()
        depth = _callstate.next_depth(inbound.depth if inbound else 0, self.options.max_depth)
        if depth is None:
            raise _errors.CallDepthExceeded(
                f"call to {host}{path} would exceed the call depth limit "
                f"of {self.options.max_depth}"
            )
        now = trio.current_time()
        budget = _callstate.budget_for(
            now, trio.current_effective_deadline(), self.options.default_budget
        )
        frame = _frames.Request(
            msg_id=self._next_id(),
            from_host=self.host,
            from_instance=self.instance,
            host=host,
            port=port,
            method=method,
            path=path,
            depth=depth,
            budget_ms=budget.budget_ms,
            body=body,
            multicast=multicast,
            trace_id=inbound.trace_id if inbound else "",
            oneway=oneway,
            token=self._tokens.next(),
        )
        tracer = self.hub.spans
        if tracer.active or frame.trace_id or current_span.get() is not None:
            tracer.stamp(frame)
        return frame, budget, now

    def expect(self, frame: _frames.Request, box: Mailbox) -> None:
        """Route the answers to ``frame`` into ``box`` until `forget`."""
        self._pending[frame.msg_id] = box

    def forget(self, frame: _frames.Request) -> None:
        self._pending.pop(frame.msg_id, None)
        self._outgoing.pop(frame.msg_id, None)

    def send(self, subject: str, frame: _frames.Request, *, event: bool = False) -> bool:
        """Publish ``frame``; True when it went in pieces (only the first so far: the rest goes
        to each instance that acks it, `continue_to`; a one-way request then still gets acks).
        An ``event`` carries its id (``Nats-Msg-Id``, so a stream stores it once) and its
        reply subject (so a durable sink reading the stream can answer)."""
        data = _frames.encode(frame)
        reply = None if frame.oneway else f"{self.reply_prefix}.{frame.msg_id}"
        headers = None
        if event and self.hub.transport.supports_headers:
            event_id = _jetstream.event_id(frame.from_instance, frame.msg_id)
            headers = {_jetstream.MSG_ID_HEADER: event_id}
            if reply is not None:
                headers[_jetstream.REPLY_HEADER] = reply
        try:
            self.hub.publish(subject, data, reply=reply, headers=headers)
        except _TransportTooLarge:
            return self._send_in_pieces(subject, frame, data)
        except TransportError as exc:
            raise _errors.BusError(f"cannot send to {frame.host}{frame.path}: {exc}") from None
        return False

    def cancel(self, frame: _frames.Request, responders: dict[str, str]) -> None:
        """Tell each responder (instance → host) still working on ``frame`` to stop."""
        cancel = _frames.Cancel(
            msg_id=frame.msg_id, from_host=self.host, from_instance=self.instance, token=frame.token
        )
        data = _frames.encode(cancel)
        for instance, host in responders.items():
            subject = _subjects.request_subject(
                self.hub.plane,
                frame.port,
                host,
                frame.method,
                frame.path,
                source=self.host,
                instance=instance,
            )
            try:
                self.hub.publish(subject, data)
            except Exception as exc:
                log.debug("could not send cancel for %s: %r", frame.msg_id, exc)

    def abandon(self, frame: _frames.Request, deadline: float) -> None:
        """Remember a call given up before its ack, until its budget runs out (bounded)."""
        now = trio.current_time()
        abandoned = self._abandoned
        while abandoned and (len(abandoned) >= 1024 or next(iter(abandoned.values()))[1] < now):
            abandoned.popitem(last=False)
        abandoned[frame.msg_id] = (frame, deadline)

    # -- unicast ---------------------------------------------------------------------------

    def call(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: msgspec.Raw,
        decode: Decode,
        *,
        instance: str | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """One request, one reply from one replica (or from ``instance`` when given).

        A plain function returning the call's coroutine: with metrics off it adds no frame."""
        coro = self._call(host, port, method, path, body, decode, instance)
        return self._measured(coro, host, port, method, path) if self.hub.metrics.enabled else coro

    async def _measured(
        self, coro: Coroutine[Any, Any, Any], host: str, port: int, method: str, path: str
    ) -> Any:
        status, t0 = 200, time.perf_counter()
        try:
            return await coro
        except BaseException as exc:
            status = status_of(exc)
            raise
        finally:
            seconds = time.perf_counter() - t0
            self.hub.metrics.called(host, port, method, path, status, seconds)

    async def _call(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: msgspec.Raw,
        decode: Decode,
        instance: str | None,
    ) -> Any:
        frame, budget, now = self.prepare(host, port, method, path, body, multicast=False)
        span = self.hub.spans.client(frame) if frame.span_id else None
        if budget.budget_ms <= self.options.hop_reserve * 1000:
            await until_own_deadline(budget)
        subject = _subjects.request_subject(
            self.hub.plane, port, host, method, path, source=self.host, instance=instance
        )
        server = None
        if instance is None and self.hub.has_inline:  # keyed by subscription: from any source
            key = _subjects.request_subject(self.hub.plane, port, host, method, path, source="*")
            server = self.hub.inline_server(key)
        if server is not None:
            await trio.lowlevel.checkpoint()  # a call always yields, even when served inline
            if server.serves_inline(frame):
                try:
                    return await settle(await server.call_inline(frame), decode, budget, host, path)
                except BaseException as exc:
                    if span is not None:
                        span.error = exc
                    raise
                finally:
                    if span is not None:
                        span.end_call({server.instance: host})
        box = Mailbox(frame.token, subject)
        self._pending[frame.msg_id] = box
        heard = self._heard.get(subject, 0)
        tally = _callstate.ResponderTally(
            multicast=False, started=now, ack_window=self.options.ack_window / 2
        )
        answered = sent = False
        ackers: dict[str, str] = {}
        try:
            self.send(subject, frame)
            # No cancel scope per wait: the hub's timer drops TIMED_OUT in the mailbox at the
            # ack window's end until a first ack, and at the default budget's when no
            # deadline was set (under the caller's own deadline its scope fires by itself).
            budget_end = budget.deadline if budget.defaulted else math.inf
            timers = self.hub.timers
            while True:
                wake = min(tally.wake_at(now), budget_end)
                item = await box.get_until(wake, timers)
                if item is TIMED_OUT:  # re-checked: a timer may fire early or late
                    now = trio.current_time()
                    if now >= budget_end:
                        raise _errors.TimeBudgetExceeded(
                            f"{host}:{port}{path} did not answer within the default budget "
                            f"of {self.options.default_budget:g} s"
                        )
                    if not tally.nobody(now):
                        continue
                    if not sent:  # half the window: prove the request left, then wait
                        sent = True  # the other half
                        await self._barrier(since=tally.started)
                    elif not self._unproven(subject, heard, wake, now):
                        item = None
                    if item is TIMED_OUT:
                        heard = self._heard.get(subject, 0)
                        tally.restart_window(trio.current_time())
                        continue
                if item is NO_RESPONDERS and ackers:
                    # nats-server says "no responders" only when nobody got the request:
                    # after an ack, that status was forged by a peer.
                    self.guard.count("unauthenticated", f"no-responders after an ack of {path}")
                    continue
                if item is NO_RESPONDERS:
                    answered = True
                    raise _errors.NoResponder(f"no responder for {host}:{port}{path}")
                if item is None:
                    raise _errors.AckTimeout(
                        f"{host}:{port}{path} has subscribers but none acknowledged within "
                        f"{self.options.ack_window:g} s; the call may have run"
                    )
                if item is DISCONNECTED:
                    raise outcome_unknown(host, path, "the connection to the bus dropped")
                if isinstance(item, Refused):
                    answered = True  # nothing to cancel: nobody got it
                    raise item.error(host, path)
                if isinstance(item, Gone):
                    if ackers.keys() & item.instances:
                        raise outcome_unknown(host, path, "the responding instance died")
                    continue
                reply = item
                if isinstance(reply, _frames.Ack):
                    tally.on_ack(reply.from_instance, reply.queue)
                    ackers[reply.from_instance] = reply.from_host
                    if frame.msg_id in self._outgoing:  # in pieces: the rest goes to it
                        await self.continue_to(frame, reply.from_instance, reply.from_host)
                    continue
                if isinstance(reply, _frames.Response | _frames.Fault):
                    answered = True
                    return await settle(reply, decode, budget, host, path)
        except BaseException as exc:
            if span is not None:
                span.error = exc
            raise
        finally:
            del self._pending[frame.msg_id]
            self._outgoing.pop(frame.msg_id, None)
            box.disarm()
            if span is not None:
                span.end_call(ackers)
            if not answered:
                late_acks(box, ackers)  # acks that arrived but were not read before the cancel
                if ackers:
                    self.cancel(frame, ackers)
                else:
                    self.abandon(frame, budget.deadline)

    async def _barrier(self, since: float) -> None:
        """Return once everything this process published by ``since`` has reached the server
        and whatever the server sent back before has been read: one round trip, shared by
        every call that asks meanwhile, if it started after ``since``. An ack window measured
        from here cannot close on a request that was still waiting to be written, as happens
        when thousands of calls start in one scheduler pass."""
        while (done := self._flushed) is not None:
            started = self._flush_started
            await done.wait()
            if started >= since:
                return
        self._flushed = done = trio.Event()
        self._flush_started = trio.current_time()
        try:
            await self.hub.transport.flush()
        except TransportError:
            pass  # the connection dropped: the mailboxes hear of it
        finally:
            self._flushed = None
            done.set()

    def _unproven(self, route: str, heard: int, wake: float, now: float) -> bool:
        """Whether an ack window that closed unanswered proves nothing yet: this process woke
        too late to have read its acks, or ``route`` answered other calls meanwhile (a
        backlog, where a refusal or an ack is still on its way). Then the window opens again,
        within the call's budget, rather than report an `AckTimeout` that may be false."""
        if _callstate.woke_late(wake, now, self.options.ack_window):
            return True
        return self._heard.get(route, 0) != heard

    # -- multicast -------------------------------------------------------------------------

    def multicast(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: msgspec.Raw,
        decode: Decode,
        *,
        every_replica: bool = False,
    ) -> Gathering:
        """Multicast: every sink host (events), or every replica (``every_replica``) answers."""
        instance = _subjects.ALL_REPLICAS if every_replica else None
        subject = _subjects.request_subject(
            self.hub.plane, port, host, method, path, source=self.host, instance=instance
        )
        target = (host, port, method, path, body)
        return Gathering(self, subject, target, decode, event=not every_replica)
