"""The replies of one multicast (an event or ``.multicast``), read as they arrive."""

from __future__ import annotations

import logging
import math
from collections.abc import Generator
from typing import Any, Protocol

import msgspec
import trio

from .._wire import callstate as _callstate
from .._wire import frames as _frames
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
    Refused,
    Reply,
    late_acks,
    outcome_unknown,
)
from .spans import MulticastSpans

__all__ = ["Gathering", "Outbound"]

log = logging.getLogger("actorbus.caller")


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
    ) -> tuple[_frames.Request, _callstate.Budget, float]: ...

    def send(self, subject: str, frame: _frames.Request, *, event: bool = False) -> bool: ...

    async def continue_to(self, frame: _frames.Request, instance: str, host: str) -> None: ...

    def expect(self, frame: _frames.Request, box: Mailbox) -> None: ...

    def forget(self, frame: _frames.Request) -> None: ...

    def abandon(self, frame: _frames.Request, deadline: float) -> None: ...

    def cancel(self, frame: _frames.Request, responders: dict[str, str]) -> None: ...


class Gathering:
    """The replies of one multicast, as an async iterator that yields each `Reply` on arrival.

    ``async for reply in gathering`` ends when every responder that acknowledged has replied
    (``complete`` is then True) or when the default budget runs out (``cut_short``); under the
    caller's own deadline, the caller's cancel scope fires as usual. ``await gathering`` fires
    and forgets: the request goes out, no replies are sent back. To break off early, iterate
    inside ``async with gathering:`` (or call ``aclose()``): leaving it drops the gathering's
    mailbox and cancels the handlers still running at once. A bare ``break`` leaves that to the
    end of the budget, when the gathering is closed for you (the handlers' own budgets end
    then too).
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
        self._tally: _callstate.ResponderTally | None = None
        self._budget: _callstate.Budget | None = None
        self._box: Mailbox | None = None
        self._hosts: dict[str, str] = {}
        self._generation = 0
        self._heard = self._heard_at_window = 0  # acks and replies, and how many when the
        # ack window last opened: if more came since, the sinks are still answering
        self._closed = False
        self._in_pieces = False  # the request went in pieces: each acker gets the rest
        self.complete = False
        self.cut_short = False
        self._span: MulticastSpans | None = None
        self._reaper: _Reaper | None = None

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
        if self._caller.send(self._subject, frame, event=self._event):
            await self._fire_rest(frame)

    async def _fire_rest(self, frame: _frames.Request) -> None:
        """A one-way request that went in pieces: its sinks ack the first (nothing else comes
        back), and each acker gets the rest, until the ack window closes (or every queue the
        directory expects has acked)."""
        caller, hub = self._caller, self._caller.hub
        box = Mailbox(frame.token)
        tally = _callstate.ResponderTally(
            multicast=True,
            started=trio.current_time(),
            ack_window=caller.options.ack_window,
            expected=hub.responders(self._subject),
        )
        caller.expect(frame, box)
        try:
            while not tally.acks_closed(now := trio.current_time()):
                item = await box.get_until(tally.wake_at(now), hub.timers)
                if isinstance(item, _frames.Ack):
                    tally.on_ack(item.from_instance, item.queue)
                    await caller.continue_to(frame, item.from_instance, item.from_host)
                elif item is NO_RESPONDERS or item is DISCONNECTED:
                    return
        finally:
            box.disarm()
            caller.forget(frame)

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
        self._tally = _callstate.ResponderTally(
            multicast=True,
            started=now,
            ack_window=caller.options.ack_window,
            expected=hub.responders(self._subject),
        )
        self._frame, self._budget = frame, budget
        self._box = Mailbox(frame.token, self._subject)
        caller.expect(frame, self._box)
        if hub.timers.running:  # closed at the budget's end at the latest, whoever iterates
            self._reaper = _Reaper(self)
            hub.timers.arm(self._reaper, budget.deadline)
        if frame.span_id:
            self._span = hub.tracer.multicast(frame, self._subject)
        if hub.metrics.enabled:
            hub.metrics.fired(host, path)
        try:
            self._in_pieces = caller.send(self._subject, frame, event=self._event)
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
                    _callstate.woke_late(wake, now, tally.ack_window)  # too busy to have read
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
            if isinstance(item, Refused):
                self._finish()
                raise item.error(self._target[0], self._target[3])
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
                if self._in_pieces and self._frame is not None:
                    await self._caller.continue_to(
                        self._frame, frame.from_instance, frame.from_host
                    )
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
        if self._reaper is not None:
            self._reaper.release()
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
        """Stop waiting: drop this gathering's mailbox and cancel the sinks still running."""
        await trio.lowlevel.checkpoint()
        self._finish()

    @property
    def deadline(self) -> float:
        return self._budget.deadline if self._budget else math.inf


class _Reaper:
    """The hub timer's entry that closes a gathering nobody closed (a bare ``break``) when its
    budget ends: its mailbox and its cancels then go, at the latest."""

    __slots__ = ("armed", "gathering")

    def __init__(self, gathering: Gathering) -> None:
        self.armed = 0
        self.gathering: Gathering | None = gathering

    def put(self, item: object) -> bool:
        gathering, self.gathering = self.gathering, None
        box = gathering._box if gathering is not None else None
        if gathering is None or (box is not None and box.waiter is not None):
            return True  # a task waits on it: its own timer entry ends the wait, then it closes
        gathering.cut_short = not gathering.complete
        try:
            gathering._finish()
        except Exception:  # in the hub's timer task: never let one gathering stop the timers
            log.exception("closing an abandoned gathering failed")
        return True

    def release(self) -> None:
        """The gathering closed itself: the timer entry is skipped and holds nothing."""
        self.gathering = None
        self.armed = 0
