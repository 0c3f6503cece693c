"""What comes back from a call: `Reply`, the per-call mailbox, and reply frames made values."""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any, Final

import msgspec
import trio

from .._wire import callstate as _callstate
from .._wire import frames as _frames
from . import errors as _errors
from .timers import TIMED_OUT, Timers

__all__ = [
    "DISCONNECTED",
    "NO_RESPONDERS",
    "TIMED_OUT",
    "Decode",
    "Gone",
    "Mailbox",
    "Refused",
    "Reply",
    "decode_value",
    "late_acks",
    "outcome_unknown",
    "settle",
    "until_own_deadline",
]

#: Turns a reply's body into its value; given the body as received (a msgspec decoder reads
#: it in place, so a large reply is not copied before it is decoded).
Decode = Callable[[Any], Any]

NO_RESPONDERS: Final = object()
#: Put in every pending mailbox when the connection drops: no reply can come any more.
DISCONNECTED: Final = object()


class Gone:
    """Put in every pending mailbox when a supervisor announces that ``instances`` died."""

    __slots__ = ("instances",)

    def __init__(self, instances: frozenset[str]) -> None:
        self.instances = instances


class Refused:
    """Put in the mailboxes of the calls sent on ``subject`` when nats-server refused that
    publish: the request reached nobody."""

    __slots__ = ("subject",)

    def __init__(self, subject: str) -> None:
        self.subject = subject

    def error(self, host: str, path: str) -> _errors.Forbidden:
        return _errors.Forbidden(
            f"{host}{path}: the NATS server refused to let this connection publish to "
            f"{self.subject}; the call did not run (check the plane, the credentials and the "
            "endpoint's callers)"
        )


def outcome_unknown(host: str, path: str, why: str) -> _errors.BusError:
    """The error of a call that was sent but whose reply can no longer arrive."""
    return _errors.BusError(
        f"{host}{path}: {why} after the request was sent; the outcome is unknown "
        "(the handler may or may not have run)"
    )


_MAILBOX_CAPACITY: Final = 1024


class Mailbox:
    """Where the reply reader drops frames for one pending call; never blocks the reader.

    ``token`` is the call's secret: the reader only drops in frames that carry it, so a peer
    that guesses a message id cannot fill the box or answer in the responder's place.
    The waiting task parks with `wait_task_rescheduled` and `put` wakes it: cheaper than an
    Event per wait, and this is the per-call hot path.
    """

    __slots__ = ("armed", "deadline", "items", "route", "token", "waiter")

    def __init__(self, token: str = "", route: str = "") -> None:
        self.items: collections.deque[object] = collections.deque()
        self.token = token
        self.route = route  # the request's subject: answers on it show the route is alive
        self.waiter: trio.lowlevel.Task | None = None
        self.armed = 0  # the hub timer's live entry for this box (0: none)
        self.deadline = math.inf  # when that entry fires

    def put(self, item: object) -> bool:
        if len(self.items) >= _MAILBOX_CAPACITY:
            return False
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            trio.lowlevel.reschedule(waiter)
        return True

    async def get(self) -> object:
        """The next item; waits as long as it takes (callers bound it with cancel scopes)."""
        if self.items:  # already delivered: a cancel check, not a full scheduler pass
            await trio.lowlevel.checkpoint_if_cancelled()
            return self.items.popleft()
        self.waiter = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self.waiter = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        return self.items.popleft()

    async def get_until(self, deadline: float, timers: Timers | None = None) -> object:
        """The next item, or `TIMED_OUT` once ``deadline`` passes (maybe a little later).

        With the hub's ``timers`` running, the wait costs a heap entry; otherwise a cancel
        scope. Either way a `TIMED_OUT` may also come early or late: the waiter re-checks
        the time before acting on it."""
        if self.items or deadline == math.inf:
            return await self.get()
        if timers is not None and timers.running:
            if not self.armed or self.deadline != deadline:
                self.deadline = deadline
                timers.arm(self, deadline)
            return await self.get()
        item: object = TIMED_OUT
        with trio.move_on_at(deadline):
            item = await self.get()
        return item

    def disarm(self) -> None:
        """The wait is over: a timer entry still in the heap is skipped when it comes up."""
        self.armed = 0


class Reply:
    """One responder's answer in a multicast: ``.ok``, ``.value`` (raises if not ok), ``.error``."""

    __slots__ = ("_value", "error", "host", "instance")

    def __init__(self, host: str, instance: str, value: Any = None, error: Exception | None = None):
        self.host = host
        self.instance = instance
        self._value = value
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return self._value

    def __repr__(self) -> str:
        inner = f"value={self._value!r}" if self.error is None else f"error={self.error!r}"
        return f"<Reply {self.host}/{self.instance} {inner}>"


async def until_own_deadline(budget: _callstate.Budget) -> None:
    """The caller's own deadline is about to fire: let it, rather than report a remote timeout."""
    if not budget.defaulted:
        await trio.sleep_until(budget.deadline)
    raise _errors.TimeBudgetExceeded("the time budget ran out before the call")


async def settle(
    reply: _frames.Frame, decode: Decode, budget: _callstate.Budget, host: str, path: str
) -> Any:
    """A unicast's reply frame → its value, or the error the caller should see."""
    if isinstance(reply, _frames.Response):
        return decode_value(decode, reply.body, host, path)
    if isinstance(reply, _frames.Fault):
        err = _errors.exception_from_fault(reply)
        if reply.status == 408 and reply.type != _errors.BUDGET_CAPPED and not budget.defaulted:
            await until_own_deadline(budget)  # the caller's own scope fires, as in any Trio code
        raise err
    raise _errors.BusError(f"unexpected {type(reply).__name__} frame from {host}{path}")


def late_acks(box: Mailbox, ackers: dict[str, str]) -> None:
    """Collect responders (instance → host) from acks still sitting unread in ``box``."""
    for item in box.items:
        if isinstance(item, _frames.Ack):
            ackers[item.from_instance] = item.from_host


def decode_value(decode: Decode, body: msgspec.Raw, host: str, path: str) -> Any:
    try:
        return decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _errors.BusError(
            f"the reply of {host}{path} does not match its type: {exc}"
        ) from None
