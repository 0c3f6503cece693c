"""The replies of one multicast (an event or ``.multicast``), read as they arrive."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any, Protocol

import msgspec
import trio

from .._wire import frames as _frames
from .._wire import protocol as _protocol
from . import errors as _errors
from .context import CallOptions
from .guard import WireGuard
from .hub import Hub
from .replies import (
    DISCONNECTED,
    NO_RESPONDERS,
    TIMED_OUT,
    Decode,
    Gone,
    Mailbox,
    Reply,
    late_acks,
    outcome_unknown,
)
from .spans import MulticastSpans

__all__ = ["Gathering", "Outbound"]


class Outbound(Protocol):
    """What a gathering needs of the caller that sends it (`Caller` is one): the gathering
    sits below the caller, which builds it, so it names only this narrow port."""

    hub: Hub
    guard: WireGuard
    options: CallOptions

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
    ) -> tuple[_frames.Request, _protocol.Budget, float]: ...

    def send(self, subject: str, frame: _frames.Request, *, event: bool = False) -> None: ...

    def expect(self, frame: _frames.Request, box: Mailbox) -> None: ...

    def forget(self, frame: _frames.Request) -> None: ...

    def abandon(self, frame: _frames.Request, deadline: float) -> None: ...

    def cancel(self, frame: _frames.Request, responders: dict[str, str]) -> None: ...


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
        caller: Outbound,
        subject: str,
        target: tuple[str, int, str, str, msgspec.Raw],
        decode: Decode,
        *,
        event: bool = True,
    ) -> None:
        self._caller = caller
        self._event = event  # an event (stamped for the streams of durable sinks), not ~all
        self._subject = subject
        self._target = target
        self._decode = decode
        self._frame: _frames.Request | None = None
        self._tally: _protocol.ResponderTally | None = None
        self._budget: _protocol.Budget | None = None
        self._box: Mailbox | None = None
        self._hosts: dict[str, str] = {}
        self._generation = 0
        self._heard = self._heard_at_window = 0  # acks and replies, and how many when the
        # ack window last opened: if more came since, the sinks are still answering
        self._closed = False
        self.complete = False
        self.cut_short = False
        self._span: MulticastSpans | None = None

    # fire and forget
    def __await__(self) -> Generator[Any, None, None]:
        return self.fire().__await__()

    async def fire(self) -> None:
        """Send the event without waiting for (or receiving) any reply.

        It yields to the scheduler only when the transport's outbound buffer is backlogged:
        a loop of fires fills one buffer that goes out in few writes, and a fast producer is
        held back once that buffer is full. It is still a cancellation point."""
        transport = self._caller.hub.transport
        if transport.backlogged:
            await transport.wait_writable()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        host, port, method, path, body = self._target
        frame, _, _ = self._caller.prepare(
            host, port, method, path, body, multicast=True, oneway=True
        )
        hub = self._caller.hub
        if frame.span_id:
            hub.tracer.fired(frame, self._subject)
        if hub.metrics.enabled:
            hub.metrics.fired(host, path)
        self._closed = True
        self._caller.send(self._subject, frame, event=self._event)

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
        frame, budget, now = caller.prepare(host, port, method, path, body, multicast=True)
        hub = caller.hub
        self._generation = hub.generation
        self._tally = _protocol.ResponderTally(
            multicast=True,
            started=now,
            ack_window=caller.options.ack_window,
            expected=hub.responders(self._subject),
        )
        self._frame, self._budget, self._box = frame, budget, Mailbox(frame.token)
        caller.expect(frame, self._box)
        if frame.span_id:
            self._span = hub.tracer.multicast(frame, self._subject)
        if hub.metrics.enabled:
            hub.metrics.fired(host, path)
        try:
            caller.send(self._subject, frame, event=self._event)
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
                learned = tally.responders()
                if tally.expected is None and len(learned) == len(tally.acked):
                    # one acker per queue: counting queues is sound (replicas without a
                    # queue group all answer, so their queue tells nothing)
                    hub.learn_responders(self._subject, learned, self._generation)
                self._finish()
                raise StopAsyncIteration
            if now >= budget.deadline:
                self.cut_short = True
                hub.forget_responders(self._subject)
                self._finish()
                raise StopAsyncIteration
            wake = min(tally.wake_at(now), budget.deadline)
            item = await box.get_until(wake, hub.timers)
            if item is TIMED_OUT:
                now = trio.current_time()
                if now < budget.deadline and (
                    _protocol.woke_late(wake, now, tally.ack_window)  # too busy to have read
                    or (tally.missing_expected(now) and self._heard != self._heard_at_window)
                ):  # ... or sinks the directory lists are still acking: a busy sink process
                    tally.restart_window(now)
                    self._heard_at_window = self._heard
                continue
            if item is NO_RESPONDERS:
                if tally.acked:  # forged: the server sends it only when nobody got the request
                    self._caller.guard.count("unauthenticated", f"no-responders on {self._subject}")
                else:
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
            frame = item
            self._heard += 1
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
        self._caller.forget(frame)
        if self._box is not None:
            self._box.disarm()
            late: dict[str, str] = {}
            late_acks(self._box, late)
            for instance, host in late.items():
                tally.on_ack(instance, "")
                self._hosts[instance] = host
        pending = tally.pending()
        if not self.complete and self._budget is not None:
            self._caller.abandon(frame, self._budget.deadline)  # sinks that ack from now on
        if self._span is not None:
            self._span.abandon(pending, self._hosts)
        if pending:
            hosts = self._hosts
            self._caller.cancel(frame, {i: hosts[i] for i in pending if i in hosts})

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
