"""A bounded stream of calls from several tasks, and the tally of what became of each call."""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from actorbus import AckTimeout, BusError, Error, NoResponder, TimeBudgetExceeded

#: Seconds between two calls of one task: the shape of the load, not a synchronisation.
PACE = 0.005
#: A call that returns this long after its budget ran out counts as hung.
HANG_MARGIN = 5.0


def kind(exc: BaseException) -> str:
    """The documented error a failed call got, as a row of the Reliability table."""
    if isinstance(exc, BusError):
        if "outcome is unknown" in str(exc):
            return "BusError (outcome unknown)"
        return "BusError (not sent)" if "cannot send" in str(exc) else "BusError"
    return type(exc).__name__


@dataclass
class Tally:
    """What became of every call: ok, failed by documented error, ran out of budget, hung."""

    made: int = 0
    ok: int = 0
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    out_of_budget: int = 0
    hung: int = 0
    unexpected: list[str] = field(default_factory=list)
    ok_tokens: set[str] = field(default_factory=set)
    changed: trio.Event = field(default_factory=trio.Event)

    def _note(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_ok(self, count: int) -> None:
        """Wait until ``count`` calls in all have succeeded (bound it with a cancel scope)."""
        while self.ok < count:
            await self.changed.wait()

    def figures(self) -> dict[str, Any]:
        return {
            "calls": self.made,
            "ok": self.ok,
            "failed": dict(sorted(self.failed.items())),
            "out_of_budget": self.out_of_budget,
            "hung": self.hung,
        }


async def stream(
    name: str,
    call: Callable[[str], Awaitable[object]],
    tally: Tally,
    stop: trio.Event,
    budget: float,
) -> None:
    """Call ``call(token)`` again and again until ``stop``, each call under ``budget`` seconds."""
    n = 0
    while not stop.is_set():
        n += 1
        token = f"{name}-{n}"
        tally.made += 1
        started = trio.current_time()
        with trio.move_on_after(budget) as scope:
            try:
                await call(token)
            except (NoResponder, AckTimeout, BusError, TimeBudgetExceeded) as exc:
                tally.failed[kind(exc)] += 1
            except Error as exc:
                tally.unexpected.append(repr(exc))
            else:
                tally.ok += 1
                tally.ok_tokens.add(token)
        if scope.cancelled_caught:
            tally.out_of_budget += 1
        if trio.current_time() - started > budget + HANG_MARGIN:
            tally.hung += 1
        tally._note()
        await trio.sleep(PACE)


DOCUMENTED = {
    "NoResponder",
    "AckTimeout",
    "BusError (not sent)",
    "BusError (outcome unknown)",
    "TimeBudgetExceeded",
}
