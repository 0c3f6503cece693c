"""``actorbus graph`` from declarations and from what it observes on a real bus: the events
example has no cycle; two actors that call each other make one, and it is named."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from actorbus import App
from examples.events.sinks import CreditCards, Files, Groups
from examples.events.users import Users
from examples.events.users_api import UsersApi

from .graph_actors import Billing, Inventory, Orders
from .helpers import actorbus, actorbus_env

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CYCLE = "cycle of direct calls: inventory.graph-test -> orders.graph-test -> inventory.graph-test"


async def test_the_events_example_has_no_cycle() -> None:
    done = await actorbus("graph", "examples/events", env=actorbus_env(PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "hosts: creditcards.example, files.example, groups.example, users.example" in out
    assert "users.example -> files.example" in out
    assert "event /on-registered, /on-user-deleted  (declared)" in out
    assert "users.example -> groups.example" in out and "/on-allow-register" in out
    assert " calls " not in out
    assert out.strip().endswith("no cycle of direct calls")


async def test_two_actors_calling_each_other_make_one_named_cycle() -> None:
    done = await actorbus("graph", str(HERE / "graph_actors.py"))
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert out.count("cycle of direct calls:") == 1 and CYCLE in out
    assert "billing.graph-test -> inventory.graph-test calls /reserve  (declared)\n" in out
    assert "orders.graph-test -> billing.graph-test    event /on-ordered  (declared)" in out
    done = await actorbus("graph", str(HERE / "graph_actors.py"), "--dot")
    dot = done.stdout.decode()
    assert '"orders.graph-test" -> "inventory.graph-test" [label="/reserve", color=red];' in dot
    assert '"inventory.graph-test" -> "orders.graph-test" [label="/price", color=red];' in dot
    assert '"billing.graph-test" -> "inventory.graph-test" [label="/reserve"];' in dot


async def test_bad_graph_arguments_are_one_line() -> None:
    done = await actorbus("graph", "no/such/folder")
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1
    done = await actorbus("graph", "examples/events", "--seconds", "-1")
    assert done.returncode == 2 and b"--seconds" in done.stderr


async def _graph_while(
    app: App, url: str, traffic: Callable[[], Awaitable[None]], *targets: str
) -> str:
    """``actorbus graph --seconds 3`` on the App's bus, with ``traffic`` repeated (paced)
    from the moment it listens until it prints its graph; bounded in time."""
    argv = ["graph", *targets, "--seconds", "3", "--nats", url, "--plane", app.plane]
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "actorbus", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=actorbus_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    done = trio.Event()

    async def collect(stream: Any, into: list[bytes]) -> None:
        async for chunk in stream:
            into.append(chunk)

    async def finish() -> None:
        await proc.wait()
        done.set()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect, proc.stdout, out)
            nursery.start_soon(collect, proc.stderr, err)
            nursery.start_soon(finish)
            await app.hub.spans.wait_listening()
            while not done.is_set():
                await traffic()
                with trio.move_on_after(0.05):  # pacing, not synchronisation
                    await done.wait()
    assert proc.returncode == 0, b"".join(err).decode()
    return " ".join(b"".join(out).decode().split())  # one space wherever the text aligns


@pytest.mark.nats
@pytest.mark.slow
async def test_graph_observed_on_the_bus(nats_url: str, plane: str) -> None:
    billing = Billing()
    async with App(Orders(), Inventory(), billing, bus=nats_url, plane=plane) as app:

        async def traffic() -> None:
            billing.billed = trio.Event()
            assert await app.client(Orders).order(item="pen") == 3
            await billing.billed.wait()

        out = await _graph_while(app, nats_url, traffic, str(HERE / "graph_actors.py"))
    assert CYCLE in out and out.count("cycle of direct calls:") == 1
    seen = "(declared, observed)"
    assert f"orders.graph-test -> inventory.graph-test calls /reserve {seen} [cycle]" in out
    assert f"inventory.graph-test -> orders.graph-test calls /price {seen} [cycle]" in out
    assert f"billing.graph-test -> inventory.graph-test calls /reserve {seen}" in out
    assert f"orders.graph-test -> billing.graph-test event /on-ordered {seen}" in out
    assert "app.actorbus -> orders.graph-test calls /order (observed)" in out  # from outside


@pytest.mark.nats
@pytest.mark.slow
async def test_the_events_example_observed_has_no_cycle(nats_url: str, plane: str) -> None:
    actors = Users(), Files(), CreditCards(), Groups()
    async with App(*actors, bus=nats_url, plane=plane) as app:
        users = app.client(UsersApi)

        async def traffic() -> None:
            reg = await users.register(email="ada@example.com")
            await users.delete_user(user_id=reg.user_id)

        out = await _graph_while(app, nats_url, traffic)
    for sink in ("files.example", "creditcards.example", "groups.example"):
        assert f"users.example -> {sink}" in out
    assert "/on-user-deleted" in out
    assert out.endswith("no cycle of direct calls")
