"""The nats-server dies and comes back while calls and events flow."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer

from .actors import Audit, Feed, Ledger, Work
from .load import DOCUMENTED, Tally, stream

pytestmark = pytest.mark.nats

BUDGET = 5.0
TASKS = 4


async def test_server_killed_and_restarted_under_a_stream_of_calls(
    server: EmbeddedServer, plane: str, figures: Callable[..., None]
) -> None:
    tally = Tally()
    stop = trio.Event()
    work = Work()
    async with (
        App(work, bus=server.url, plane=plane, grace=1) as served,
        App(bus=server.url, plane=plane) as app,
    ):

        async def call(token: str) -> object:
            return await app.client(Work).work(token=token, seconds=0.2)

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for i in range(TASKS):
                    nursery.start_soon(stream, f"t{i}", call, tally, stop, BUDGET)
                await tally.wait_ok(40)
                while not work.running:  # kill the server while a call is in flight
                    await work.changed.wait()
                before = tally.ok
                killed_at = trio.current_time()
                await trio.to_thread.run_sync(lambda: server.stop(kill=True))
                await trio.to_thread.run_sync(server.start)  # same port: clients come back
                await tally.wait_ok(before + 1)
                recovery = trio.current_time() - killed_at
                await tally.wait_ok(before + 40)  # and they keep working
                stop.set()
        assert served.transport.connected and app.transport.connected
    assert tally.hung == 0
    assert tally.out_of_budget == 0, "a call waited out its budget although the bus knew"
    assert not tally.unexpected, tally.unexpected
    assert set(tally.failed) <= DOCUMENTED, tally.failed
    assert tally.failed["BusError (outcome unknown)"] >= 1, "the calls in flight learnt at once"
    figures(**tally.figures(), recovery_s=round(recovery, 2), tasks=TASKS)


async def test_events_during_a_server_restart_reach_the_sinks_afterwards(
    server: EmbeddedServer, plane: str, figures: Callable[..., None]
) -> None:
    feed, ledger, audit = Feed(), Ledger(), Audit()
    async with (
        App(feed, bus=server.url, plane=plane) as source,
        App(ledger, audit, bus=server.url, plane=plane) as sinks,
    ):

        async def fire(n: int) -> set[str]:
            return {reply.host async for reply in feed.on_item(n=n) if reply.ok}

        with trio.fail_after(60):
            assert await fire(1) == {Ledger.host(), Audit.host()}
            restarted_at = trio.current_time()
            await trio.to_thread.run_sync(lambda: server.stop(kill=True))
            await trio.to_thread.run_sync(server.start)
            await source.transport.wait_connected()  # type: ignore[attr-defined]
            await sinks.transport.wait_connected()  # type: ignore[attr-defined]
            await sinks.transport.flush()  # the sinks' subscriptions are back on the server
            n, missed = 2, 0
            while await fire(n) != {Ledger.host(), Audit.host()}:
                missed += 1  # a gather racing the resubscription may miss a sink: fire again
                n += 1
            recovery = trio.current_time() - restarted_at
            for more in range(n + 1, n + 21):
                assert await fire(more) == {Ledger.host(), Audit.host()}
    for sink in (ledger, audit):
        assert len(sink.seen) == len(set(sink.seen)), "an event was delivered twice"
        assert set(range(n, n + 21)) <= set(sink.seen)
    figures(events=n + 20, after_restart=21, missed=missed, recovery_s=round(recovery, 2))
