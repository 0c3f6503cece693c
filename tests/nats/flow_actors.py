"""Actors of the flow-control tests: a source of fire-and-forget events, a sink that counts
them (and reports which it saw), and an endpoint slow enough to be overloaded."""

from __future__ import annotations

import trio

from actorbus import Actor, endpoint, event, sink


class Ticks(Actor):
    """Fires events and forgets them."""

    hostname = "ticks.flow"

    @event
    async def on_tick(self, n: int) -> None: ...


class Counter(Actor):
    """Counts the events it handled; `seen` long-polls until a count is reached."""

    hostname = "counter.flow"

    def __init__(self) -> None:
        super().__init__()
        self.numbers: set[int] = set()
        self.handled = 0
        self._changed = trio.Event()

    @sink(Ticks.on_tick)
    async def tick(self, n: int) -> None:
        self.handled += 1
        self.numbers.add(n)
        self._changed.set()

    @endpoint
    async def seen(self, at_least: int, within: float) -> dict[str, int]:
        """Waits (at most ``within`` seconds) until ``at_least`` events were handled."""
        with trio.move_on_after(within):
            while self.handled < at_least:
                self._changed = trio.Event()
                await self._changed.wait()
        return {"handled": self.handled, "distinct": len(self.numbers)}


class Busy(Actor):
    """Each call takes a while, so a flood of concurrent calls goes past the bound."""

    hostname = "busy.flow"

    @endpoint
    async def work(self, seconds: float) -> str:
        await trio.sleep(seconds)
        return "done"
