"""Actors shared by the runtime tests."""

from __future__ import annotations

import msgspec
import trio

from actorbus import Actor, HTTPError, endpoint


class Point(msgspec.Struct):
    x: int
    y: int


class Calc(Actor):
    hostname = "calc.test"

    def __init__(self) -> None:
        super().__init__()
        self.started = trio.Event()
        self.release = trio.Event()
        self.finished: list[str] = []

    @endpoint
    async def add(self, a: int, b: int = 1) -> int:
        return a + b

    @endpoint("GET /norm")
    async def norm(self, p: Point) -> Point:
        return Point(abs(p.x), abs(p.y))

    @endpoint
    async def fail(self, message: str) -> None:
        raise ValueError(message)

    @endpoint
    async def missing(self, key: str) -> str:
        raise HTTPError(404, f"no such key {key}")

    @endpoint
    async def remaining(self) -> float:
        return trio.current_effective_deadline() - trio.current_time()

    @endpoint
    async def slow(self, tag: str) -> str:
        self.started.set()
        try:
            await self.release.wait()
            return tag
        finally:
            self.finished.append(tag)

    @endpoint
    async def forever(self) -> None:
        self.started.set()
        try:
            await trio.sleep_forever()
        finally:
            self.finished.append("forever")

    @endpoint
    async def lie(self) -> int:
        return "not an int"  # type: ignore[return-value]

    @endpoint
    async def echo(self, data: str) -> str:
        return data

    @endpoint
    async def recurse(self, n: int) -> int:
        return await self.client(Calc).recurse(n=n + 1)

    @endpoint
    async def who(self) -> str:
        return self.instance
