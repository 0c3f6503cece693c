"""The hub's timer: one task fires every wait's deadline; answered waits leave stale entries
that are skipped; a stopped timer lets every waiter go (tested on Trio's mock clock)."""

from __future__ import annotations

import trio
import trio.testing

from actorbus._runtime.replies import Mailbox
from actorbus._runtime.timers import SLACK, TIMED_OUT, Timers


async def test_a_wait_times_out_at_its_deadline(autojump_clock: trio.testing.MockClock) -> None:
    timers = Timers()
    async with trio.open_nursery() as nursery:
        await nursery.start(timers.run)
        box = Mailbox()
        start = trio.current_time()
        assert await box.get_until(start + 1.0, timers) is TIMED_OUT
        assert start + 1.0 <= trio.current_time() <= start + 1.0 + SLACK
        nursery.cancel_scope.cancel()


async def test_an_earlier_deadline_wakes_the_timer(autojump_clock: trio.testing.MockClock) -> None:
    timers = Timers()
    async with trio.open_nursery() as nursery:
        await nursery.start(timers.run)
        late, early = Mailbox(), Mailbox()
        now = trio.current_time()
        nursery.start_soon(late.get_until, now + 100, timers)
        await trio.testing.wait_all_tasks_blocked()
        assert await early.get_until(now + 1, timers) is TIMED_OUT
        assert trio.current_time() < now + 2  # not after the late one
        nursery.cancel_scope.cancel()


async def test_an_answered_wait_is_not_timed_out(autojump_clock: trio.testing.MockClock) -> None:
    timers = Timers()
    async with trio.open_nursery() as nursery:
        await nursery.start(timers.run)
        box = Mailbox()
        now = trio.current_time()

        async def answer() -> None:
            await trio.sleep(0.5)
            box.put("reply")

        nursery.start_soon(answer)
        assert await box.get_until(now + 1, timers) == "reply"
        box.disarm()
        await trio.sleep(2)
        assert not box.items  # the stale entry was skipped, no marker dropped in
        assert len(timers) == 0
        nursery.cancel_scope.cancel()


async def test_without_a_running_timer_a_cancel_scope_serves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    box = Mailbox()
    now = trio.current_time()
    assert await box.get_until(now + 1, Timers()) is TIMED_OUT
    assert trio.current_time() >= now + 1


async def test_a_stopping_timer_lets_its_waiters_go() -> None:
    timers = Timers()
    got: list[object] = []
    box = Mailbox()
    async with trio.open_nursery() as nursery, trio.open_nursery() as inner:
        await inner.start(timers.run)

        async def wait() -> None:
            got.append(await box.get_until(trio.current_time() + 3600, timers))

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        inner.cancel_scope.cancel()
    assert got == [TIMED_OUT]  # early: the waiter re-checks the time and waits on
