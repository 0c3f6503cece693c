"""Actors for the security tests: an event source, a sink of its event, and a bystander."""

from __future__ import annotations

import trio

from actorbus import Actor, current_request, endpoint, event, sink


class Source(Actor):
    """Fires ``on_thing``; its sinks double the number."""

    hostname = "source.sec"

    @event
    async def on_thing(self, n: int) -> int: ...

    @endpoint
    async def fire(self, n: int) -> list[int]:
        return sorted([r.value async for r in self.on_thing(n=n) if r.ok])

    @endpoint
    async def echo(self, text: str) -> str:
        return text

    @endpoint(callers=["sink.sec"])
    async def private(self) -> str:
        return "for sink.sec only"

    @endpoint
    async def caller(self) -> str:
        return current_request().from_host


class Sink(Actor):
    """Records every event it handles (per instance), and wakes whoever waits for one."""

    hostname = "sink.sec"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []
        self.changed = trio.Event()

    @sink(Source.on_thing)
    async def handle(self, n: int) -> int:
        self.seen.append(n)
        self.changed.set()
        self.changed = trio.Event()
        return n * 2

    @endpoint
    async def ask_private(self) -> str:
        return await self.client(Source).private()

    @endpoint
    async def ask_caller(self) -> str:
        return await self.client(Source).caller()


class Other(Actor):
    """A bystander with an identity of its own and no business with the others' subjects."""

    hostname = "other.sec"

    @endpoint
    async def hello(self) -> str:
        return "hi"
