"""What one actor instance runs at once (issue 25): handlers run concurrently unless bounded;
``max_concurrent=1`` on a handler serialises that handler's calls; ``max_concurrent = 1`` on the
actor class makes a mailbox (one message at a time across all its handlers), while the control
port still answers."""

from __future__ import annotations

from typing import Any

import msgspec
import trio
import trio.testing

from actorbus import Actor, App, endpoint
from actorbus._wire import frames as _frames


class Counter(Actor):
    hostname = "counter.ops.test"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = 0
        self.in_flight = 0
        self.most = 0
        self.crowd = trio.Event()  # set once `want` calls are inside at the same time
        self.want = 10
        self.release = trio.Event()

    async def _enter(self) -> int:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        if self.in_flight >= self.want:
            self.crowd.set()
        return self.n

    @endpoint
    async def incr(self) -> int:
        v = await self._enter()
        await self.release.wait()  # a read-modify-write that awaits in between
        self.n = v + 1
        self.in_flight -= 1
        return self.n

    @endpoint(max_concurrent=1)
    async def incr_one_at_a_time(self) -> int:
        v = await self._enter()
        await trio.lowlevel.checkpoint()
        self.n = v + 1
        self.in_flight -= 1
        return self.n


async def test_handlers_of_one_instance_run_concurrently(app: App) -> None:
    counter = Counter()
    await app.add(counter)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(app.client(Counter).incr)
            await counter.crowd.wait()  # all ten are inside at once
            counter.release.set()
    assert counter.n == 1  # ten increments, one survived: the README's warning


async def test_max_concurrent_one_serialises_a_handler(app: App) -> None:
    counter = Counter()
    await app.add(counter)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(app.client(Counter).incr_one_at_a_time)
    assert (counter.n, counter.most) == (10, 1)


class Mailbox(Actor):
    hostname = "mailbox.ops.test"
    max_concurrent = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inside = trio.Event()
        self.release = trio.Event()

    @endpoint
    async def slow(self) -> str:
        self.inside.set()
        await self.release.wait()
        return "slow"

    @endpoint
    async def quick(self) -> str:
        return "quick"


async def test_actor_wide_max_concurrent_one_is_a_mailbox(app: App) -> None:
    box = Mailbox()
    await app.add(box)
    order: list[str] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def call(name: str) -> None:
                order.append(await getattr(app.client(Mailbox), name)())

            nursery.start_soon(call, "slow")
            await box.inside.wait()
            nursery.start_soon(call, "quick")
            await trio.testing.wait_all_tasks_blocked()  # "quick" ran, or waits behind "slow"
            box.release.set()
    assert order == ["slow", "quick"]


async def test_a_mailbox_still_answers_its_control_port(app: App) -> None:
    box = Mailbox()
    await app.add(box)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(app.client(Mailbox).slow)
            await box.inside.wait()
            stats = await app.caller.call(
                "mailbox.ops.test", 888, "GET", "/stats", _frames.EMPTY_BODY, msgspec.msgpack.decode
            )
            assert stats["in_flight"] >= 1  # answered while its one handler slot is taken
            box.release.set()
