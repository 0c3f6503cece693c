"""The handler worker pool: a hand-over per item, never more workers than items in flight, idle
workers reused and reaped, order kept (tested without a bus)."""

from __future__ import annotations

import time

import trio
import trio.testing

from actorbus._runtime.workers import FAIR, IDLE, Workers


def _unexpected(n: int, exc: Exception) -> None:
    raise AssertionError(f"item {n} raised {exc!r}")


async def test_items_run_in_order_and_workers_are_reused() -> None:
    done: list[int] = []

    async def run(n: int, scope: trio.CancelScope) -> None:
        await trio.lowlevel.checkpoint()
        done.append(n)

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 100)
        for n in range(5):
            pool.submit(n)
            await trio.testing.wait_all_tasks_blocked()  # each ran before the next came
        assert done == [0, 1, 2, 3, 4]
        assert pool.count == 1  # one worker did them all, parked between them
        nursery.cancel_scope.cancel()
    assert pool.count == 0


async def test_concurrent_items_get_one_worker_each_and_no_more() -> None:
    release = trio.Event()
    running = 0
    most = 0

    async def run(n: int, scope: trio.CancelScope) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 100)
        for n in range(8):
            pool.submit(n)
        await trio.testing.wait_all_tasks_blocked()
        assert (running, pool.count) == (8, 8)
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert running == 0 and pool.count == 8  # parked, ready for the next burst
        release = trio.Event()
        for n in range(8):
            pool.submit(n)
        await trio.testing.wait_all_tasks_blocked()
        assert (running, most, pool.count) == (8, 8, 8)  # the parked ones took them
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


async def test_a_finishing_worker_leaves_a_woken_worker_its_item() -> None:
    """The race that grew the pool past its bound: a busy worker finishes while another was
    just started for a new item; the busy one must not take that item and leave the new one
    with nothing (parked, one worker too many)."""
    gate = trio.Event()

    async def run(n: int, scope: trio.CancelScope) -> None:
        if n == 0:
            await gate.wait()

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 100)
        pool.submit(0)
        await trio.testing.wait_all_tasks_blocked()
        pool.submit(1)  # a second worker starts for it ...
        gate.set()  # ... while the first finishes in the same pass
        await trio.testing.wait_all_tasks_blocked()
        assert pool.count == 2
        for n in range(2, 4):  # two items at once: both parked workers are used, none made
            pool.submit(n)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.count == 2
        nursery.cancel_scope.cancel()


async def test_a_worker_idle_too_long_ends_when_another_parks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def run(n: int, scope: trio.CancelScope) -> None:
        await trio.sleep(n)

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 100)
        pool.submit(0)
        pool.submit(0)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.count == 2  # both parked
        await trio.sleep(IDLE + 1)
        pool.submit(0)  # wakes one; when it parks again, the other (idle too long) ends
        await trio.testing.wait_all_tasks_blocked()
        assert pool.count == 1
        nursery.cancel_scope.cancel()


async def test_a_backlog_of_handlers_that_never_yield_lets_other_tasks_run() -> None:
    """Without yielding, one worker would run the whole backlog in one scheduler pass and
    starve the reader (and the acks) meanwhile."""
    ran: list[int] = []
    other_ran_at: list[int] = []

    async def run(n: int, scope: trio.CancelScope) -> None:
        spin_until = time.perf_counter() + FAIR / 4
        while time.perf_counter() < spin_until:  # CPU work, no checkpoint
            pass
        ran.append(n)

    async def other() -> None:
        await trio.lowlevel.checkpoint()
        other_ran_at.append(len(ran))

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 100)
        pool.submit(0)
        for n in range(1, 200):
            pool.submit(n, by_worker=True)  # queued behind the first, for the same worker
        nursery.start_soon(other)
        while len(ran) < 200:
            await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert other_ran_at and other_ran_at[0] < 200  # it ran before the backlog was done


async def test_never_more_workers_than_the_limit() -> None:
    """Past its limit the pool starts no worker: the item waits for the first to finish."""
    release = trio.Event()
    done: list[int] = []

    async def run(n: int, scope: trio.CancelScope) -> None:
        await release.wait()
        done.append(n)

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 2)
        for n in range(5):
            pool.submit(n)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.count == 2
        release.set()
        while len(done) < 5:
            await trio.testing.wait_all_tasks_blocked()
        assert sorted(done) == [0, 1, 2, 3, 4] and pool.count == 2
        nursery.cancel_scope.cancel()


async def test_cancelling_an_items_scope_stops_that_item_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Items share their worker's scope: cancelling it (or its deadline passing) stops the
    item running under it, and the next item runs under a fresh scope."""
    done: list[str] = []
    scopes: list[trio.CancelScope] = []
    started, finished = trio.Event(), trio.Event()

    async def run(n: int, scope: trio.CancelScope) -> None:
        scopes.append(scope)
        if n == 0:
            started.set()
            await trio.sleep_forever()  # cancelled below
        if n == 1:
            scope.deadline = trio.current_time() + 1
            await trio.sleep(5)  # its deadline ends it
        done.append(f"{n} ran")
        if n == 3:
            finished.set()

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 1)
        pool.submit(0)
        for n in (1, 2, 3):
            pool.submit(n)
        await started.wait()
        scopes[0].cancel()
        await finished.wait()
        nursery.cancel_scope.cancel()
    assert done == ["2 ran", "3 ran"]
    assert scopes[1] is not scopes[0] and scopes[2] is not scopes[1]
    assert scopes[3] is scopes[2]  # no cancel in between: the same scope serves on


async def test_a_burst_of_quick_items_runs_back_to_back_in_one_worker() -> None:
    """Items that never block are not handed one to each worker: the first worker woken runs
    them all but the last (left to the one it woke), so a burst costs two hand-overs."""
    ran_by: list[object] = []

    async def run(n: int, scope: trio.CancelScope) -> None:
        ran_by.append(trio.lowlevel.current_task())

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(nursery, run, _unexpected, 100)
        for n in range(50):
            pool.submit(n)
        await trio.testing.wait_all_tasks_blocked()
        assert len(ran_by) == 50
        assert len(set(ran_by)) <= 2 and pool.count <= 2
        nursery.cancel_scope.cancel()


async def test_an_item_that_raises_goes_to_its_owner_and_the_worker_goes_on() -> None:
    failures: list[tuple[int, str]] = []
    done: list[int] = []

    async def run(n: int, scope: trio.CancelScope) -> None:
        if n == 1:
            raise RuntimeError("a bug")
        done.append(n)

    async with trio.open_nursery() as nursery:
        pool: Workers[int] = Workers(
            nursery, run, lambda n, exc: failures.append((n, str(exc))), 100
        )
        for n in range(3):
            pool.submit(n)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert failures == [(1, "a bug")] and done == [0, 2]
