"""Typed arguments and returns: BadRequest on the caller, chosen statuses with HTTPError."""

from __future__ import annotations

import msgspec
import trio

from actorbus import Actor, App, BadRequest, HTTPError, RemoteError, endpoint


class Vector(msgspec.Struct, frozen=True):
    x: float
    y: float


class Calculator(Actor):
    hostname = "calculator.example"

    @endpoint
    async def add(self, a: int, b: int) -> int:
        return a + b

    @endpoint
    async def divide(self, a: float, b: float) -> float:
        if b == 0:
            raise HTTPError(422, "division by zero")
        return a / b

    @endpoint("POST /vectors/sum")
    async def vector_sum(self, vectors: list[Vector]) -> Vector:
        return Vector(sum(v.x for v in vectors), sum(v.y for v in vectors))


async def main() -> None:
    async with App(Calculator()) as app:
        calc = app.client(Calculator)
        print("add(2, 3) =", await calc.add(a=2, b=3))
        print("divide(1, 4) =", await calc.divide(a=1, b=4))
        print("vector_sum =", await calc.vector_sum(vectors=[Vector(1, 2), {"x": 3, "y": 4}]))
        try:
            await calc.add(a="two", b=3)
        except BadRequest as exc:
            print("BadRequest:", exc)
        try:
            await calc.divide(a=1, b=0)
        except RemoteError as exc:
            print(f"RemoteError {exc.status}:", exc.message)


if __name__ == "__main__":
    trio.run(main)
