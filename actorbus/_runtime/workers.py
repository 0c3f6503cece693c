"""Long-lived handler tasks, so a message costs a hand-over, not a task.

Spawning a Trio task costs about 10 µs, more than decoding, validating and answering a small
request together, and a cancel scope about 5 µs. A pool keeps worker tasks (up to its limit):
`submit` hands a call to a parked worker (or starts one) unless one is already on its way, and
a worker wakes the next as it starts a call with more behind it; a worker that finishes a call
takes the next one without parking (yielding every `FAIR` seconds, so a backlog of handlers
that never yield cannot starve the reader); one left parked for `IDLE` seconds ends when
another parks. A worker runs its items under one cancel scope that it lends to each (the item
sets the scope's deadline, and cancelling it stops that item only): a new one only after an
item was cancelled, or after a yield. Bounds are the caller's: a server submits a call only
when its handler's gate lets it run.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Final, Generic, TypeVar

import outcome
import trio

__all__ = ["FAIR", "IDLE", "Workers"]

#: Seconds a worker waits for work before it ends.
IDLE: Final = 10.0
#: Seconds a worker goes from item to item (handlers that never yield) before it lets the
#: scheduler run the others: the reader, the ack sender, other handlers.
FAIR: Final = 0.002

T = TypeVar("T")


class Workers(Generic[T]):
    """Worker tasks in ``nursery`` that run ``run(item, scope)`` for each submitted item, in
    order; ``scope`` is the worker's cancel scope, entered, for that item alone. An item that
    raises goes to ``failed(item, exc)``, and the worker goes on."""

    __slots__ = (
        "_failed",
        "_idle",
        "_nursery",
        "_promised",
        "_queue",
        "_run",
        "count",
        "limit",
    )

    def __init__(
        self,
        nursery: trio.Nursery,
        run: Callable[[T, trio.CancelScope], Awaitable[None]],
        failed: Callable[[T, Exception], None],
        limit: int = sys.maxsize,
    ) -> None:
        self._nursery = nursery
        self._run = run
        self._failed = failed  # an item that raised: the pool goes on, its owner is told
        self.limit = limit  # workers alive at most
        self._queue: collections.deque[T] = collections.deque()
        # Parked workers with the time they parked; the last parked on top (it is warm).
        self._idle: list[tuple[trio.lowlevel.Task, float]] = []
        self.count = 0  # workers alive
        # Workers woken or started for queued items that have not looked at the queue yet: a
        # worker that finishes leaves them theirs (else they would wake to nothing, and the
        # pool would grow past the bound it is fed).
        self._promised = 0

    def submit(self, item: T, *, by_worker: bool = False) -> None:
        """Run ``item`` in a worker: the caller keeps its own bound (this pool has none).
        ``by_worker``: a worker of this pool submits it as it finishes its own item, so that
        worker takes it next, with no hand-over. Never more than ``limit`` workers."""
        self._queue.append(item)
        if not by_worker:
            self._one_more()

    def _one_more(self) -> None:
        """Wake a parked worker (or start one) for the queue, unless one is already on its way:
        that one wakes the next as it starts an item with more behind it. So a burst of quick
        items runs in one worker, back to back, for two hand-overs in all, while items that
        block still get a worker each (one scheduler pass apart)."""
        if self._promised:
            return
        if self._idle:
            self._promised += 1
            trio.lowlevel.reschedule(self._idle.pop()[0], outcome.Value(True))
        elif self.count < self.limit:
            self._promised += 1
            self.count += 1
            self._nursery.start_soon(self._work)
        # else every worker is busy: the first to finish takes it (nobody parks while the
        # queue holds more than the promised items)

    async def _work(self) -> None:
        queue, run = self._queue, self._run
        self._promised -= 1
        try:
            while True:
                while len(queue) > self._promised:
                    if await self._stint(queue, run):
                        await trio.lowlevel.checkpoint()  # the reader and the others run too
                if not await self._park():
                    return
                self._promised -= 1
        finally:
            self.count -= 1

    async def _stint(
        self, queue: collections.deque[T], run: Callable[[T, trio.CancelScope], Awaitable[None]]
    ) -> bool:
        """Run queued items under one cancel scope until the queue is empty (False), one of them
        was cancelled (False: the scope is spent), or `FAIR` seconds went by (True)."""
        since = time.perf_counter()  # CPU time given away, not Trio's (maybe mocked) clock
        with trio.CancelScope() as scope:
            while len(queue) > self._promised:
                item = queue.popleft()
                if queue:
                    self._one_more()  # in case this item blocks: the next one need not wait
                try:
                    await run(item, scope)
                except Exception as exc:
                    self._failed(item, exc)
                if scope.cancel_called:
                    return False
                if time.perf_counter() - since > FAIR:
                    return True
        return False

    async def _park(self) -> bool:
        """Wait for work (True), or be told to end (False). No cancel scope: the worker parked
        longest ends once it has been idle for `IDLE` seconds, when another worker parks."""
        idle, now = self._idle, trio.current_time()
        if idle and now - idle[0][1] > IDLE:
            trio.lowlevel.reschedule(idle.pop(0)[0], outcome.Value(False))
        task = trio.lowlevel.current_task()
        entry = (task, now)
        idle.append(entry)

        def abort(_: object) -> trio.lowlevel.Abort:
            if entry in idle:
                idle.remove(entry)
            return trio.lowlevel.Abort.SUCCEEDED

        busy: bool = await trio.lowlevel.wait_task_rescheduled(abort)
        return busy
