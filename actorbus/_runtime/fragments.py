"""Putting fragmented frames together, bounded: per set, per hub and per process.

A set reserves the size its first piece declares, from a budget the whole process shares
(`PROCESS_BUDGET`), before it holds a byte; past that budget (or past `MAX_SETS` sets on one
hub) a new set is refused, and its sender hears so. A set that receives nothing for
`STALL_TIMEOUT` seconds is dropped: one entry in the hub's timer heap serves every set of the
hub (the oldest set's expiry), and each new set also sweeps the expired ones, so a hub without
a running timer stays bounded too.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import Final

import trio

from .._wire import frames as _frames
from .._wire.fragments import Assembly
from .timers import Timers

__all__ = [
    "MAX_SETS",
    "PROCESS_BUDGET",
    "STALL_TIMEOUT",
    "Budget",
    "Reassembly",
    "Set",
]

#: Seconds a set may go without a piece before it is dropped.
STALL_TIMEOUT: Final = 2.0
#: Sets one hub holds at once.
MAX_SETS: Final = 1024
#: Bytes every set of this process may hold together.
DEFAULT_PROCESS_LIMIT: Final = 256 * 1024 * 1024


class Budget:
    """Bytes reserved for reassembly, against a ``limit``."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def reserve(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def release(self, size: int) -> None:
        self.held = max(0, self.held - size)


#: The one budget of this process (every hub of every App draws from it).
PROCESS_BUDGET: Final = Budget(DEFAULT_PROCESS_LIMIT)


class Set:
    """One set in progress: its pieces and whatever its owner needs to finish it."""

    __slots__ = ("assembly", "context", "key", "last", "on_stall")

    def __init__(
        self,
        key: Hashable,
        first: _frames.Fragment,
        context: object,
        on_stall: Callable[[Set], None],
        now: float,
    ) -> None:
        self.key = key
        self.assembly = Assembly(first)
        self.context = context
        self.on_stall = on_stall
        self.last = now


class Reassembly:
    """The sets of one hub (a box for its timer: ``armed`` and ``put``)."""

    STARTED: Final = "started"
    DUPLICATE: Final = "duplicate"
    FULL: Final = "full"

    def __init__(
        self,
        timers: Timers | None = None,
        budget: Budget = PROCESS_BUDGET,
        timeout: float = STALL_TIMEOUT,
        max_sets: int = MAX_SETS,
    ) -> None:
        self._timers = timers
        self.budget = budget
        self.timeout = timeout
        self.max_sets = max_sets
        self._sets: collections.OrderedDict[Hashable, Set] = collections.OrderedDict()
        self.armed = 0

    def __len__(self) -> int:
        return len(self._sets)

    @property
    def held(self) -> int:
        """Bytes this hub's sets reserve."""
        return sum(s.assembly.size for s in self._sets.values())

    def begin(
        self,
        key: Hashable,
        first: _frames.Fragment,
        context: object,
        on_stall: Callable[[Set], None],
    ) -> str:
        """Start a set from its first piece (already checked): STARTED, DUPLICATE (a set with
        that key is in progress) or FULL (no room: refused)."""
        now = trio.current_time()
        self.sweep(now)
        if key in self._sets:
            return self.DUPLICATE
        if len(self._sets) >= self.max_sets or not self.budget.reserve(first.size):
            return self.FULL
        self._sets[key] = Set(key, first, context, on_stall, now)
        self._arm()
        return self.STARTED

    def get(self, key: Hashable) -> Set | None:
        return self._sets.get(key)

    def add(self, pending: Set, piece: _frames.Fragment) -> str:
        """Add a later piece: the `Assembly` outcome. DONE and INVALID end the set and release
        its reservation (after DONE, ``pending.assembly.join()`` still gives the frame)."""
        outcome = pending.assembly.add(piece)
        if outcome in (Assembly.DONE, Assembly.INVALID):
            self.drop(pending)
        elif outcome == Assembly.MORE:
            pending.last = trio.current_time()
            self._sets.move_to_end(pending.key)
        return outcome

    def drop(self, pending: Set) -> None:
        if self._sets.get(pending.key) is pending:
            del self._sets[pending.key]
            self.budget.release(pending.assembly.size)

    def sweep(self, now: float) -> None:
        """Drop the sets that stalled (oldest activity first), telling their owners."""
        sets = self._sets
        while sets:
            oldest = next(iter(sets.values()))
            if oldest.last + self.timeout > now:
                break
            self.drop(oldest)
            try:
                oldest.on_stall(oldest)
            except Exception:  # an owner's bookkeeping never stops the sweep
                pass

    def clear(self) -> None:
        for pending in list(self._sets.values()):
            self.drop(pending)

    # -- the timer's box -------------------------------------------------------------------

    def put(self, item: object) -> bool:
        """The timer fired: sweep, and ask again for the next oldest set."""
        self.sweep(trio.current_time())
        self._arm()
        return True

    def _arm(self) -> None:
        timers = self._timers
        if self.armed or not self._sets or timers is None or not timers.running:
            return
        oldest = next(iter(self._sets.values()))
        timers.arm(self, oldest.last + self.timeout)
