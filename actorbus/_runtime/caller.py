"""Outbound calls: unicast, multicast gathering, time budget, depth, cancellation across the bus."""

from __future__ import annotations

import collections
import logging
import math
import secrets
import time
from collections.abc import Coroutine, Generator
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
from .guard import WireGuard
from .hub import Hub
from .metrics import status_of
from .replies import (
    NO_RESPONDERS,
    Decode,
    Mailbox,
    Reply,
    late_acks,
    settle,
    until_own_deadline,
)
from .spans import MulticastSpans, current_span

__all__ = ["Caller", "Gathering", "Reply"]

log = logging.getLogger("actorbus.call")


class Caller:
    """The outbound side of one identity (an actor instance or an App's edge)."""

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
        self._ids = 0
        self._started = False
        # Calls given up before any responder acked: a late ack still gets its cancel frame.
        self._abandoned: collections.OrderedDict[str, tuple[_frames.Request, float]] = (
            collections.OrderedDict()
        )

    async def start(self) -> None:
        await self.hub.subscribe_replies(self.reply_prefix, self._on_reply)
        self._started = True

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            await self.hub.unsubscribe_replies(self.reply_prefix)

    def _on_reply(self, msg: Message) -> None:
        """The reply reader: only acks and replies that carry their call's token get through."""
        msg_id = msg.subject.rpartition(".")[2]
        box = self._pending.get(msg_id)
        if msg.no_responders:
            if box is not None:
                box.put(NO_RESPONDERS)
            return
        try:
            frame = _frames.decode(msg.data)
        except _frames.FrameError as exc:
            self.guard.count("malformed", f"on {msg.subject}: {exc}")
            return
        if not isinstance(frame, _frames.Ack | _frames.Response | _frames.Fault):
            self.guard.count("malformed", f"a {type(frame).__name__} on {msg.subject}")
            return
        if box is None:
            abandoned = self._abandoned.get(msg_id)  # kept: several sinks may ack late
            if abandoned is not None and frame.token == abandoned[0].token:
                if isinstance(frame, _frames.Ack):
                    self._cancel(abandoned[0], {frame.from_instance: frame.from_host})
            else:
                self.guard.count("unmatched", f"a {type(frame).__name__} for call {msg_id}")
            return
        if frame.token != box.token:
            self.guard.count("unauthenticated", f"a {type(frame).__name__} for call {msg_id}")
            return
        if not box.put(frame):
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
            token=secrets.token_hex(8),
        )
        tracer = self.hub.tracer
        if tracer.active or frame.trace_id or current_span.get() is not None:
            tracer.stamp(frame)
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
        cancel = _frames.Cancel(
            msg_id=frame.msg_id, from_host=self.host, from_instance=self.instance, token=frame.token
        )
        data = _frames.encode(cancel)
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
        box = Mailbox(frame.token)
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
                    if item is NO_RESPONDERS and ackers:
                        # nats-server says "no responders" only when nobody got the request:
                        # after an ack, that status was forged by a peer.
                        self.guard.count("unauthenticated", f"no-responders after an ack of {path}")
                        continue
                    if item is None or item is NO_RESPONDERS:
                        answered = True
                        raise _errors.NoResponder(f"no responder for {host}:{port}{path}")
                    reply = item
                    if isinstance(reply, _frames.Ack):
                        tally.on_ack(reply.from_instance, reply.queue)
                        ackers[reply.from_instance] = reply.from_host
                        continue
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
        hub = self._caller.hub
        if frame.span_id:
            hub.tracer.fired(frame, self._subject)
        if hub.metrics.enabled:
            hub.metrics.fired(host, path)
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
        self._frame, self._budget, self._box = frame, budget, Mailbox(frame.token)
        caller._pending[frame.msg_id] = self._box
        if frame.span_id:
            self._span = hub.tracer.multicast(frame, self._subject)
        if hub.metrics.enabled:
            hub.metrics.fired(host, path)
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
                if tally.acked:  # forged: the server sends it only when nobody got the request
                    self._caller.guard.count("unauthenticated", f"no-responders on {self._subject}")
                else:
                    tally.on_no_responders()
                continue
            frame = item
            if isinstance(frame, _frames.Ack):
                tally.on_ack(frame.from_instance, frame.queue)
                self._hosts[frame.from_instance] = frame.from_host
            elif isinstance(frame, _frames.Response | _frames.Fault):
                tally.on_reply(frame.from_instance, frame.queue)
                if self._span is not None:
                    self._span.reply(frame)
                if hub.metrics.enabled:
                    status = frame.status if isinstance(frame, _frames.Fault) else 200
                    hub.metrics.multicast_reply(self._target[0], self._target[3], status)
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
