"""The soak run's actors (also run in worker processes by ``actorbus run``)."""

from __future__ import annotations

import os

import trio

from actorbus import Actor, endpoint, event, sink


class Work(Actor):
    """Calls that take a little while, so that some are in flight when a fault hits."""

    hostname = "work.soak"

    @endpoint
    async def work(self, seconds: float = 0.02) -> int:
        await trio.sleep(seconds)  # the work itself
        return os.getpid()


class Feed(Actor):
    hostname = "feed.soak"

    @event
    async def on_item(self, n: int) -> str: ...


class Ledger(Actor):
    """A sink host with replicas on several nodes; remembers what it saw to count duplicates."""

    hostname = "ledger.soak"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    @sink(Feed.on_item)
    async def item(self, n: int) -> str:
        self.seen.append(n)
        return self.instance
