"""Actors of the fault suite; also run in subprocesses with ``actorbus run``."""

from __future__ import annotations

import os

import trio

from actorbus import Actor, endpoint, event, sink


class Work(Actor):
    """A service whose calls take a little while, so that some are always in flight."""

    hostname = "work.faults.test"

    def __init__(self) -> None:
        super().__init__()
        self.running = 0  # handlers running now (when run in the test's own process)
        self.changed = trio.Event()

    def _note(self, delta: int) -> None:
        self.running += delta
        self.changed.set()
        self.changed = trio.Event()

    @endpoint
    async def work(self, token: str, seconds: float = 0.05, tell: bool = False) -> str:
        if tell:
            print(f"START {token}", flush=True)
        self._note(+1)
        try:
            await trio.sleep(seconds)  # the work itself
        finally:
            self._note(-1)
        print(f"DONE {token}", flush=True)  # a subprocess's stdout tells the test what ran
        return token

    @endpoint
    async def hold(self, seconds: float) -> int:
        """Say on stdout which process holds the call, then hold it for ``seconds``."""
        print(f"HOLD {os.getpid()}", flush=True)
        await trio.sleep(seconds)
        return os.getpid()

    @endpoint
    async def pid(self) -> int:
        return os.getpid()


class Feed(Actor):
    """The source of the events."""

    hostname = "feed.faults.test"

    @event
    async def on_item(self, n: int) -> str: ...


class Ledger(Actor):
    """A sink host that may run as several replicas (on several nodes); records what it saw."""

    hostname = "ledger.faults.test"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    @sink(Feed.on_item)
    async def item(self, n: int) -> str:
        self.seen.append(n)
        return self.instance


class Audit(Ledger):
    """A second sink host of the same event."""

    hostname = "audit.faults.test"
