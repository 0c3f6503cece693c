"""Flow control on a real nats-server: a burst of fire-and-forget events waits in the sink's
inbox instead of being dropped, and a flood of calls past an actor's bound is refused with
`Overloaded` at once, never left to an `AckTimeout`."""

from __future__ import annotations

import resource
from collections import Counter as Tally
from pathlib import Path

import pytest
import trio

from actorbus import AckTimeout, App, Error, Overloaded

from ..cli.helpers import running
from .flow_actors import Busy, Counter, Ticks

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACTORS = str(Path(__file__).with_name("flow_actors.py"))
BURST = 100_000


async def test_a_burst_of_100000_events_reaches_a_sink_in_another_process(
    nats_url: str, plane: str
) -> None:
    args = (f"{ACTORS}:Counter", "--nats", nats_url, "--plane", plane, "--trace-ws", "off")
    # The sink answers `seen` after the burst that arrived before it (one connection keeps its
    # order), so the ack may take longer than the default window: this test counts deliveries.
    source = App(Ticks(), bus=nats_url, plane=plane, ack_window=30)
    async with running(*args), source as app:
        ticks = app.actors[0]
        assert isinstance(ticks, Ticks)
        counter = app.client(Counter)
        assert (await counter.seen(at_least=0, within=0))["handled"] == 0
        with trio.fail_after(120):
            for n in range(BURST):
                await ticks.on_tick(n=n)  # fire and forget, back to back
            seen = {"handled": 0}
            while seen["handled"] < BURST:
                seen = await counter.seen(at_least=BURST, within=10)
        assert seen == {"handled": BURST, "distinct": BURST}  # every one, each once


async def test_20000_concurrent_calls_succeed_or_are_overloaded_never_ack_timeout(
    nats_url: str, plane: str
) -> None:
    calls = 20_000
    outcomes: Tally[str] = Tally()
    async with App(Busy(), bus=nats_url, plane=plane), App(bus=nats_url, plane=plane) as app:
        busy = app.client(Busy)
        assert await busy.work(seconds=0) == "done"
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        async def one() -> None:
            try:
                outcomes[await busy.work(seconds=0.5)] += 1
            except Overloaded:
                outcomes["Overloaded"] += 1
            except AckTimeout:
                outcomes["AckTimeout"] += 1
            except Error as exc:
                outcomes[type(exc).__name__] += 1

        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for _ in range(calls):
                    nursery.start_soon(one)
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print("outcomes", dict(outcomes), "grown_kib", grown_kib)
    assert sum(outcomes.values()) == calls
    assert set(outcomes) <= {"done", "Overloaded"}, outcomes
    assert outcomes["done"] >= Busy.max_concurrent  # the bound's worth ran
    assert outcomes["Overloaded"] > 0
    assert grown_kib < 400 * 1024, f"the caller grew by {grown_kib} KiB"
