"""Actors for the tracer tests: a call chain, an event with two sinks, a ticker."""

from __future__ import annotations

import trio

from actorbus import Actor, HTTPError, endpoint, event, sink, ticker


class Back(Actor):
    hostname = "back.test"

    @endpoint
    async def double(self, n: int) -> int:
        return 2 * n

    @endpoint
    async def broken(self) -> int:
        raise HTTPError(418, "teapot")


class Front(Actor):
    hostname = "front.test"

    @endpoint
    async def quad(self, n: int) -> int:
        back = self.client(Back)
        return int(await back.double(n=await back.double(n=n)))

    @endpoint
    async def fails(self) -> int:
        return await self.client(Back).broken()  # type: ignore[no-any-return]


class Users(Actor):
    hostname = "users.test"

    @event
    async def on_deleted(self, user_id: str) -> bool: ...  # type: ignore[empty-body]

    @endpoint
    async def delete(self, user_id: str) -> int:
        replies = 0
        async for reply in self.on_deleted(user_id=user_id):
            replies += 1 if reply.ok else 0
        return replies


class Files(Actor):
    hostname = "files.test"

    @sink(Users.on_deleted)
    async def purge(self, user_id: str) -> bool:
        await self.client(Back).double(n=1)
        return True


class Audit(Actor):
    hostname = "audit.test"

    @sink(Users.on_deleted)
    async def record(self, user_id: str) -> bool:
        raise ValueError(f"audit refuses {user_id}")


class Ticking(Actor):
    hostname = "ticking.test"

    def __init__(self) -> None:
        super().__init__()
        self.ticked = trio.Event()
        self.runs = 0

    @ticker(seconds=1)
    async def beat(self) -> None:
        await self.client(Back).double(n=self.runs)
        self.runs += 1
        if self.runs >= 2:
            self.ticked.set()


class Holder(Actor):
    """Holds a call open until released, so a test can learn its trace id first."""

    hostname = "holder.test"

    def __init__(self) -> None:
        super().__init__()
        self.trace_id = ""
        self.started = trio.Event()
        self.release = trio.Event()

    @endpoint
    async def hold(self) -> int:
        from actorbus._observe.spans import current_span

        ctx = current_span.get()
        self.trace_id = ctx[0] if ctx else ""
        self.started.set()
        await self.release.wait()
        return await self.client(Back).double(n=5)  # type: ignore[no-any-return]
