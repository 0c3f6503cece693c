"""One timer task for all the waits of a hub: ack windows and default budgets.

A wait with a deadline used to cost a Trio cancel scope (about 5 µs to enter and exit, and an
exception thrown through the waiter when it fires). Here a wait is an entry in a heap; one task
sleeps until the earliest entry (a few milliseconds later, so that one wake-up serves every entry
due by then) and drops a `TIMED_OUT` marker in each due mailbox. A call that is answered first
just leaves its entry behind, to be skipped when it comes up.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Final, Protocol

import trio

__all__ = ["SLACK", "TIMED_OUT", "Timers"]

#: What a mailbox receives when its deadline passed.
TIMED_OUT: Final = object()
#: How much later than asked a deadline may fire, so that one wake-up serves many.
SLACK: Final = 0.005


class Box(Protocol):
    """A mailbox the timer can drop its marker in; ``armed`` names the live entry."""

    armed: int

    def put(self, item: object) -> bool: ...


class Timers:
    """Deadlines of one hub's waits, fired by one task (`run`, started by the hub's owner)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Box]] = []
        self._ids = itertools.count(1)
        self._waiter: trio.lowlevel.Task | None = None
        self._sleeping_until = math.inf
        self.running = False

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, box: Box, deadline: float) -> None:
        """Drop `TIMED_OUT` in ``box`` at ``deadline`` unless it is re-armed or disarmed first.
        Only while `running`: callers fall back to a cancel scope otherwise."""
        entry = next(self._ids)
        box.armed = entry
        heapq.heappush(self._heap, (deadline, entry, box))
        if deadline < self._sleeping_until and self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            trio.lowlevel.reschedule(waiter)

    @staticmethod
    def disarm(box: Box) -> None:
        box.armed = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire deadlines until cancelled."""
        heap = self._heap
        self.running = True
        task_status.started()
        try:
            while True:
                now = trio.current_time()
                while heap and heap[0][0] <= now:
                    _, entry, box = heapq.heappop(heap)
                    if box.armed == entry:
                        box.armed = 0
                        box.put(TIMED_OUT)
                until = heap[0][0] + SLACK if heap else math.inf
                await self._sleep_until(until)
        finally:
            self.running = False
            for _, entry, box in heap:  # whoever still waits must not wait for ever
                if box.armed == entry:
                    box.armed = 0
                    box.put(TIMED_OUT)
            heap.clear()

    async def _sleep_until(self, until: float) -> None:
        """Park until ``until`` or until `arm` wants an earlier wake-up."""
        self._sleeping_until = until
        self._waiter = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._waiter = None
            return trio.lowlevel.Abort.SUCCEEDED

        try:
            if until == math.inf:
                await trio.lowlevel.wait_task_rescheduled(abort)
            else:
                with trio.move_on_at(until):
                    await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            self._waiter = None
            self._sleeping_until = math.inf
