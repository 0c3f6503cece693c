"""Nothing outlives its owner: tasks, subscriptions, child processes (issue 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

import actorbus
from actorbus import App

from .actors import Calc


def all_tasks() -> set[trio.lowlevel.Task]:
    seen: set[trio.lowlevel.Task] = set()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None or task in seen:
            continue
        seen.add(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return seen


def child_processes() -> list[str]:
    me = str(os.getpid())
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            names.append(stat.read_text().split("(", 1)[1].split(")", 1)[0])
    return names


async def test_no_task_or_subscription_outlives_the_app(bus: str, plane: str) -> None:
    before = all_tasks()
    shared = actorbus._transport.memory.MemoryBus() if bus == "memory" else bus  # type: ignore[attr-defined]
    calc = Calc()

    class Other(Calc):
        hostname = "other.test"

    async with App(calc, Other(), bus=shared, plane=plane, grace=0.2) as app:
        assert await app.client(Calc).add(a=1) == 2

        async def hang() -> None:
            with trio.move_on_after(5), pytest.raises(actorbus.RemoteError, match="shut down"):
                await app.client(Calc).forever()

        app._nursery.start_soon(hang)  # type: ignore[union-attr]
        with trio.fail_after(5):
            await calc.started.wait()
        assert len(all_tasks()) > len(before)
    assert all_tasks() == before
    if bus == "memory":
        assert shared._subs.count == 0  # type: ignore[union-attr]


async def test_removing_an_actor_drops_its_subscriptions_and_tasks(app: App) -> None:
    keep = await app.add(Calc())
    gone = await app.add(Calc())
    tasks_with_both = all_tasks()
    await app.remove(gone)
    subjects = [subject for subject, _ in app.hub._excgroups]
    assert not any(gone.instance in s for s in subjects)
    assert any(keep.instance in s for s in subjects)
    assert len(all_tasks()) < len(tasks_with_both)
    assert await app.client(Calc).who() == keep.instance


@pytest.mark.nats
async def test_embedded_server_process_stops_with_the_app(plane: str) -> None:
    servers = child_processes().count("nats-server")  # the session's own server may run
    async with App(Calc(), bus="embedded", plane=plane) as app:
        assert child_processes().count("nats-server") == servers + 1
        assert await app.client(Calc).add(a=1) == 2
    assert child_processes().count("nats-server") == servers
