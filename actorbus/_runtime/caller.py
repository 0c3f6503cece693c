"""Outbound calls: unicast, multicast gathering, time budget, depth, cancellation across the bus."""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Generator
from typing import Any

import msgspec
import trio

from .._transport.base import Message, TransportError
from .._transport.base import PayloadTooLarge as _TransportTooLarge
from .._wire import frames as _frames
from .._wire import protocol as _protocol
from .._wire import subjects as _subjects
from . import errors as _errors
from .context import CallOptions, current_request
from .hub import Hub
from .replies import (
    DISCONNECTED,
    NO_RESPONDERS,
    Decode,
    Gone,
    Mailbox,
    Reply,
    decode_frame,
    late_acks,
    outcome_unknown,
    settle,
    until_own_deadline,
)
from .spans import MulticastSpans

__all__ = ["Caller", "Gathering", "Reply"]

log = logging.getLogger("actorbus.call")


class Caller:
    """The outbound side of one identity (an actor instance or an App's edge)."""

    def __init__(self, hub: Hub, host: str, instance: str, options: CallOptions) -> None:
        self.hub = hub
        self.host = host
        self.instance = instance
        self.options = options
        self.reply_prefix = _subjects.reply_prefix(hub.plane, host, instance)
        self._pending: dict[str, Mailbox] = {}
        self._ids = 0
        self._started = False
        # Calls given up before any responder acked: a late ack still gets its cancel frame.
        self._abandoned: collections.OrderedDict[str, tuple[_frames.Request, float]] = (
            collections.OrderedDict()
        )

    async def start(self) -> None:
        await self.hub.subscribe_replies(self.reply_prefix, self._on_reply)
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

    def _on_reply(self, msg: Message) -> None:
        msg_id = msg.subject.rpartition(".")[2]
        box = self._pending.get(msg_id)
        if box is None:
            abandoned = self._abandoned.get(msg_id)  # kept: several sinks may ack late
            if abandoned is not None and not msg.no_responders:
                self._cancel_late(abandoned, msg.data)
            else:
                log.debug("%s: dropped a reply for unknown or finished call %s", self.host, msg_id)
            return
        if not box.put(NO_RESPONDERS if msg.no_responders else msg.data):
            log.warning(
                "%s: reply mailbox of call %s is full; dropped a message", self.host, msg_id
            )

    # -- building requests ---------------------------------------------------------------

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self._ids:x}"

    def _prepare(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: msgspec.Raw,
        *,
        multicast: bool,
        oneway: bool = False,
    ) -> tuple[_frames.Request, _protocol.Budget, float]:
        inbound = current_request.get()
        depth = _protocol.next_depth(inbound.depth if inbound else 0, self.options.max_depth)
        if depth is None:
            raise _errors.CallDepthExceeded(
                f"call to {host}{path} would exceed the call depth limit "
                f"of {self.options.max_depth}"
            )
        now = trio.current_time()
        budget = _protocol.budget_for(
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
        )
        if self.hub.tracer.active or frame.trace_id:
            self.hub.tracer.stamp(frame)
        return frame, budget, now

    def _send(self, subject: str, frame: _frames.Request) -> None:
        data = _frames.encode(frame)
        reply = None if frame.oneway else f"{self.reply_prefix}.{frame.msg_id}"
        try:
            self.hub.publish(subject, data, reply=reply)
        except _TransportTooLarge as exc:
            raise _errors.PayloadTooLarge(f"request to {frame.host}{frame.path}: {exc}") from None
        except TransportError as exc:
            raise _errors.BusError(f"cannot send to {frame.host}{frame.path}: {exc}") from None

    def _cancel(self, frame: _frames.Request, responders: dict[str, str]) -> None:
        """Tell each responder (instance → host) still working on ``frame`` to stop."""
        data = _frames.encode(
            _frames.Cancel(msg_id=frame.msg_id, from_host=self.host, from_instance=self.instance)
        )
        for instance, host in responders.items():
            subject = _subjects.request_subject(
                self.hub.plane, frame.port, host, frame.method, frame.path, instance=instance
            )
            try:
                self.hub.publish(subject, data)
            except Exception as exc:
                log.debug("could not send cancel for %s: %r", frame.msg_id, exc)

    def _abandon(self, frame: _frames.Request, deadline: float) -> None:
        """Remember a call given up before its ack, until its budget runs out (bounded)."""
        now = trio.current_time()
        abandoned = self._abandoned
        while abandoned and (len(abandoned) >= 1024 or next(iter(abandoned.values()))[1] < now):
            abandoned.popitem(last=False)
        abandoned[frame.msg_id] = (frame, deadline)

    def _cancel_late(self, abandoned: tuple[_frames.Request, float], data: bytes) -> None:
        try:
            late = _frames.decode(bytes(data))
        except _frames.FrameError:
            return
        if isinstance(late, _frames.Ack):
            self._cancel(abandoned[0], {late.from_instance: late.from_host})

    # -- unicast ---------------------------------------------------------------------------

    async def call(
        self,
        host: str,
        port: int,
        method: str,
        path: str,
        body: msgspec.Raw,
        decode: Decode,
        *,
        instance: str | None = None,
    ) -> Any:
        """One request, one reply from one replica (or from ``instance`` when given)."""
        frame, budget, now = self._prepare(host, port, method, path, body, multicast=False)
        span = self.hub.tracer.client(frame) if frame.span_id else None
        if budget.budget_ms <= self.options.hop_reserve * 1000:
            await until_own_deadline(budget)
        subject = _subjects.request_subject(
            self.hub.plane, port, host, method, path, instance=instance
        )
        server = self.hub.inline_server(subject) if instance is None else None
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
        box = Mailbox()
        self._pending[frame.msg_id] = box
        tally = _protocol.ResponderTally(
            multicast=False, started=now, ack_window=self.options.ack_window
        )
        answered = False
        ackers: dict[str, str] = {}
        try:
            self._send(subject, frame)
            # One cancel scope per call at most: the default budget's. Under the caller's own
            # deadline the caller's scope fires by itself; the ack window only needs a timer
            # until the first ack (co-located acks are already in the mailbox).
            with trio.move_on_at(budget.deadline if budget.defaulted else math.inf) as scope:
                while True:
                    item = await box.get_until(tally.wake_at(now))
                    if item is None:
                        now = trio.current_time()
                        if not tally.nobody(now):
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
                    if isinstance(item, Gone):
                        if ackers.keys() & item.instances:
                            raise outcome_unknown(host, path, "the responding instance died")
                        continue
                    reply = decode_frame(item)
                    if isinstance(reply, _frames.Ack):
                        tally.on_ack(reply.from_instance, reply.queue)
                        ackers[reply.from_instance] = reply.from_host
                        continue
                    if isinstance(reply, _errors.Error):
                        answered = True
                        raise reply
                    if isinstance(reply, _frames.Response | _frames.Fault):
                        answered = True
                        return await settle(reply, decode, budget, host, path)
            if scope.cancelled_caught:
                raise _errors.TimeBudgetExceeded(
                    f"{host}:{port}{path} did not answer within the default budget of "
                    f"{self.options.default_budget:g} s"
                )
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException as exc:
            if span is not None:
                span.error = exc
            raise
        finally:
            del self._pending[frame.msg_id]
            if span is not None:
                span.end_call(ackers)
            if not answered:
                late_acks(box, ackers)  # acks that arrived but were not read before the cancel
                if ackers:
                    self._cancel(frame, ackers)
                else:
                    self._abandon(frame, budget.deadline)

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
            self.hub.plane, port, host, method, path, instance=instance
        )
        return Gathering(self, subject, (host, port, method, path, body), decode)


class Gathering:
    """The replies of one multicast, as an async iterator that yields each `Reply` on arrival.

    ``async for reply in gathering`` ends when every responder that acknowledged has replied
    (``complete`` is then True) or when the default budget runs out (``cut_short``); under the
    caller's own deadline, the caller's cancel scope fires as usual. ``await gathering`` fires
    and forgets: the request goes out, no replies are sent back. Leaving the loop early (or
    ``aclose()``) cancels the handlers still running.
    """

    def __init__(
        self,
        caller: Caller,
        subject: str,
        target: tuple[str, int, str, str, msgspec.Raw],
        decode: Decode,
    ) -> None:
        self._caller = caller
        self._subject = subject
        self._target = target
        self._decode = decode
        self._frame: _frames.Request | None = None
        self._tally: _protocol.ResponderTally | None = None
        self._budget: _protocol.Budget | None = None
        self._box: Mailbox | None = None
        self._hosts: dict[str, str] = {}
        self._generation = 0
        self._closed = False
        self.complete = False
        self.cut_short = False
        self._span: MulticastSpans | None = None

    # fire and forget
    def __await__(self) -> Generator[Any, None, None]:
        return self.fire().__await__()

    async def fire(self) -> None:
        """Send the event without waiting for (or receiving) any reply."""
        await trio.lowlevel.checkpoint()
        host, port, method, path, body = self._target
        frame, _, _ = self._caller._prepare(
            host, port, method, path, body, multicast=True, oneway=True
        )
        if frame.span_id:
            self._caller.hub.tracer.fired(frame, self._subject)
        self._closed = True
        self._caller._send(self._subject, frame)

    async def __aenter__(self) -> Gathering:
        """Send the request now; replies are read by iterating inside the block."""
        await trio.lowlevel.checkpoint()
        if self._frame is None and not self._closed:
            self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Gathering:
        return self

    def _start(self) -> None:
        caller = self._caller
        host, port, method, path, body = self._target
        frame, budget, now = caller._prepare(host, port, method, path, body, multicast=True)
        hub = caller.hub
        self._generation = hub.generation
        self._tally = _protocol.ResponderTally(
            multicast=True,
            started=now,
            ack_window=caller.options.ack_window,
            expected=hub.responders(self._subject),
        )
        self._frame, self._budget, self._box = frame, budget, Mailbox()
        caller._pending[frame.msg_id] = self._box
        if frame.span_id:
            self._span = hub.tracer.multicast(frame, self._subject)
        try:
            caller._send(self._subject, frame)
        except BaseException:
            self._finish()
            raise

    async def __anext__(self) -> Reply:
        if self._closed:
            raise StopAsyncIteration
        if self._frame is None:
            self._start()
        tally, budget, box = self._tally, self._budget, self._box
        assert tally is not None and budget is not None and box is not None
        hub = self._caller.hub
        while True:
            now = trio.current_time()
            if hub.generation != self._generation:
                tally.invalidate()
            if tally.done(now):
                self.complete = True
                if tally.expected is None:
                    hub.learn_responders(self._subject, tally.responders(), self._generation)
                self._finish()
                raise StopAsyncIteration
            if now >= budget.deadline:
                self.cut_short = True
                hub.forget_responders(self._subject)
                self._finish()
                raise StopAsyncIteration
            item = await box.get_until(min(tally.wake_at(now), budget.deadline))
            if item is None:
                continue
            if item is NO_RESPONDERS:
                tally.on_no_responders()
                continue
            if item is DISCONNECTED:
                self._finish()
                raise outcome_unknown(self._target[0], self._target[3], "the connection dropped")
            if isinstance(item, Gone):
                dead = [i for i in tally.pending() if i in item.instances]
                if dead:  # one Reply per dead responder: look at this item again next time
                    box.items.appendleft(item)
                    tally.on_reply(dead[0], tally.acked[dead[0]])
                    host = self._hosts.get(dead[0], "")
                    error = outcome_unknown(host, self._target[3], "the responder died")
                    return Reply(host, dead[0], error=error)
                continue
            frame = decode_frame(item)
            if isinstance(frame, _errors.Error):
                return Reply("", "", error=frame)
            if isinstance(frame, _frames.Ack):
                tally.on_ack(frame.from_instance, frame.queue)
                self._hosts[frame.from_instance] = frame.from_host
            elif isinstance(frame, _frames.Response | _frames.Fault):
                tally.on_reply(frame.from_instance, frame.queue)
                if self._span is not None:
                    self._span.reply(frame)
                return self._reply(frame)

    def _reply(self, frame: _frames.Response | _frames.Fault) -> Reply:
        host, instance = frame.from_host, frame.from_instance
        if isinstance(frame, _frames.Fault):
            return Reply(host, instance, error=_errors.exception_from_fault(frame))
        try:
            return Reply(host, instance, self._decode(bytes(frame.body)))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            bad = _errors.BusError(f"a reply from {host} does not decode: {exc}")
            return Reply(host, instance, error=bad)

    def _finish(self) -> None:
        """Drop the demux entry and cancel the responders still working. Idempotent, sync."""
        if self._closed:
            return
        self._closed = True
        frame, tally = self._frame, self._tally
        if frame is None or tally is None:
            return
        self._caller._pending.pop(frame.msg_id, None)
        if self._box is not None:
            late: dict[str, str] = {}
            late_acks(self._box, late)
            for instance, host in late.items():
                tally.on_ack(instance, "")
                self._hosts[instance] = host
        pending = tally.pending()
        if not self.complete and self._budget is not None:
            self._caller._abandon(frame, self._budget.deadline)  # sinks that ack from now on
        if self._span is not None:
            self._span.abandon(pending, self._hosts)
        if pending:
            hosts = self._hosts
            self._caller._cancel(frame, {i: hosts[i] for i in pending if i in hosts})

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self._finish()

    def __del__(self) -> None:
        # Leaving `async for` early drops the last reference: clean up then, synchronously.
        if not self._closed and self._frame is not None:
            try:
                self._finish()
            except Exception:
                pass

    @property
    def deadline(self) -> float:
        return self._budget.deadline if self._budget else math.inf
