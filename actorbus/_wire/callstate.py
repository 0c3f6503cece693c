"""The call/gather state machine (pure): feed it what arrived and the time; it says what's next.

Time is a plain number (Trio's clock in the runtime, anything in tests). Nothing here sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ACK_WINDOW",
    "DEFAULT_BUDGET",
    "DEFAULT_HOP_RESERVE",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_BUDGET",
    "LATE_WAKE",
    "MAX_DEPTH",
    "Budget",
    "ResponderTally",
    "budget_for",
    "handler_deadline",
    "next_depth",
    "woke_late",
]

DEFAULT_ACK_WINDOW = 0.25
DEFAULT_BUDGET = 20.0
DEFAULT_HOP_RESERVE = 0.02
DEFAULT_MAX_BUDGET = 60.0  # a callee never runs a handler longer than this, whatever the wire says
MAX_DEPTH = 64
#: Largest request or reply body (the encoded arguments or return value), in bytes: the same on
#: every bus and for co-located calls; frames past the server's ``max_payload`` are fragmented.
DEFAULT_MAX_BODY = 32 * 1024 * 1024
#: Share of the ack window a waiter may wake late before its silence proves nothing: past it
#: the process itself was too busy to read the acks that may be waiting on its socket.
LATE_WAKE = 0.25


def woke_late(wake: float, now: float, ack_window: float) -> bool:
    """True when a wait meant to end at ``wake`` ended at ``now``, too late to trust."""
    return now - wake > ack_window * LATE_WAKE


@dataclass(frozen=True, slots=True)
class Budget:
    """What a caller puts on the wire and how long it waits."""

    deadline: float  # absolute, on the caller's clock
    budget_ms: int  # what travels: remaining milliseconds, never a timestamp
    defaulted: bool  # True when no deadline was set and the default budget applies


def budget_for(now: float, effective_deadline: float, default: float = DEFAULT_BUDGET) -> Budget:
    """Turn the caller's effective deadline (``inf`` when none) into a time budget."""
    if effective_deadline == math.inf:  # -inf means already cancelled: budget 0
        return Budget(now + default, int(default * 1000), True)
    remaining = max(0.0, effective_deadline - now)
    return Budget(effective_deadline, int(remaining * 1000), False)


def handler_deadline(
    now: float, budget_ms: int, hop_reserve: float, max_budget: float = DEFAULT_MAX_BUDGET
) -> float:
    """Deadline of a handler on the callee: the budget (capped at ``max_budget`` seconds, as
    it comes from the wire) less the hop reserve, never negative."""
    return now + max(0.0, min(budget_ms / 1000, max_budget) - hop_reserve)


def next_depth(current: int, limit: int = MAX_DEPTH) -> int | None:
    """Depth of the next hop, or None when the call would go past the limit."""
    nxt = current + 1
    return nxt if nxt <= limit else None


class ResponderTally:
    """Tracks one call's acks and replies until it is done.

    Unicast: done at the first reply; an ack (or reply) within the window proves a responder;
    no ack within it (or the server's no-responders status) means nobody serves it. Multicast:
    acks are counted by responder instance until the window closes, or until the responders
    seen last time (``expected``) have all acked; then it is done once every acker has replied.
    Every step is O(1): gathers of hundreds of sinks feed it hundreds of frames.
    """

    __slots__ = (
        "_seen_expected",
        "ack_window",
        "acked",
        "expected",
        "multicast",
        "no_responders",
        "replied",
        "started",
    )

    def __init__(
        self,
        multicast: bool,
        started: float,
        ack_window: float,
        expected: frozenset[str] | None = None,
    ) -> None:
        self.multicast = multicast
        self.started = started
        self.ack_window = ack_window
        self.expected = expected or None
        self.acked: dict[str, str] = {}  # instance -> queue
        self.replied: set[str] = set()
        self.no_responders = False
        self._seen_expected: set[str] = set()

    def on_ack(self, instance: str, queue: str) -> None:
        if instance not in self.acked:
            self.acked[instance] = queue
            if self.expected is not None and queue in self.expected:
                self._seen_expected.add(queue)

    def on_reply(self, instance: str, queue: str) -> None:
        """A reply also counts as that responder's ack (it may overtake the ack)."""
        self.on_ack(instance, queue)
        self.replied.add(instance)

    def on_no_responders(self) -> None:
        self.no_responders = True

    def restart_window(self, now: float) -> None:
        """Open the ack window again from ``now``: the caller could not tell silence from its
        own delay (it woke late, or the route was answering other calls meanwhile)."""
        self.started = now

    def missing_expected(self, now: float) -> bool:
        """The ack window has passed while queues the directory expects have not acked."""
        expected = self.expected
        return (
            expected is not None
            and now >= self.started + self.ack_window
            and len(self._seen_expected) < len(expected)
        )

    def invalidate(self) -> None:
        """The set of responders may have changed: fall back to the full ack window."""
        self.expected = None

    def acks_closed(self, now: float) -> bool:
        if self.no_responders or now >= self.started + self.ack_window:
            return True
        if not self.multicast:
            return bool(self.acked)
        expected = self.expected
        return expected is not None and len(self._seen_expected) == len(expected)

    def done(self, now: float) -> bool:
        if not self.multicast:
            return bool(self.replied) or (self.acks_closed(now) and not self.acked)
        return self.acks_closed(now) and len(self.replied) == len(self.acked)

    def nobody(self, now: float) -> bool:
        """True when the window closed and no responder acknowledged."""
        return self.acks_closed(now) and not self.acked

    def wake_at(self, now: float) -> float:
        """When the outcome can change without a message arriving (the ack window closing)."""
        if self.acks_closed(now):
            return math.inf
        return self.started + self.ack_window

    def pending(self) -> list[str]:
        """Instances that acked but have not replied (to cancel when the caller gives up)."""
        return [i for i in self.acked if i not in self.replied]

    def responders(self) -> frozenset[str]:
        """Queues that answered: next time, the gather can finish as soon as they all acked."""
        return frozenset(self.acked.values())
