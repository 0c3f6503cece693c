"""Actors on a 3-node NATS cluster: calls and gathers across nodes, and a node killed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from actorbus import App, NoResponder
from actorbus._transport.cluster import EmbeddedCluster, open_cluster

from .actors import Audit, Feed, Ledger, Work
from .load import DOCUMENTED, Tally, stream

pytestmark = pytest.mark.nats

BUDGET = 3.0
TASKS = 3


async def served(app: App) -> None:
    """Wait until the worker's subscription has reached the caller's node over the routes."""
    while True:
        try:
            await app.client(Work).pid()
            return
        except NoResponder:
            await trio.sleep(0.01)  # interest propagates over the routes: poll the condition


async def test_a_node_killed_under_calls_and_events(
    plane: str, figures: Callable[..., None]
) -> None:
    cluster: EmbeddedCluster
    feed = Feed()
    ledgers = [Ledger(), Ledger()]  # one sink host, two replicas, on different nodes
    audit = Audit()
    tally = Tally()
    stop = trio.Event()
    async with open_cluster(3) as cluster:
        node = cluster.urls
        # A generous ack window: under a loaded machine a sink's ack can take longer than the
        # default 250 ms, and a gathering that expects both sinks ends when both replied anyway.
        window = 2.0
        async with (
            App(Work(), ledgers[0], bus=node[0], plane=plane, grace=1, ack_window=window) as worker,
            App(feed, ledgers[1], bus=node[1], plane=plane, ack_window=window),
            App(audit, bus=node[2], plane=plane, ack_window=window) as edge,
        ):

            async def call(token: str) -> object:
                return await edge.client(Work).work(token=token)

            async def gather(n: int) -> set[str]:
                return {r.host async for r in feed.on_item(n=n) if r.ok}

            with trio.fail_after(60):
                await served(edge)
                n = 0
                while await gather(n) != {Ledger.host(), Audit.host()}:
                    n += 1  # the sinks' interest is still spreading to the source's node
                async with trio.open_nursery() as nursery:
                    for i in range(TASKS):
                        nursery.start_soon(stream, f"t{i}", call, tally, stop, BUDGET)
                    await tally.wait_ok(30)
                    before = tally.ok
                    killed_at = trio.current_time()
                    cluster.stop_node(0, kill=True)  # the worker's node (SIGKILL: a quick call)
                    await worker.transport.wait_disconnected()  # type: ignore[attr-defined]
                    await worker.transport.wait_connected()  # type: ignore[attr-defined]
                    await tally.wait_ok(before + 1)
                    recovery = trio.current_time() - killed_at
                    await tally.wait_ok(before + 30)
                    stop.set()
                    first = n + 1
                    for n in range(first, first + 30):  # events across the surviving nodes
                        assert await gather(n) == {Ledger.host(), Audit.host()}
            # Node 0 is dead, so the worker serves from another node: a URL it was not given,
            # learnt from the cluster's INFO.
            assert worker.transport.connected and not cluster.nodes[0].running
    seen = ledgers[0].seen + ledgers[1].seen
    assert len(seen) == len(set(seen)), "an event reached two replicas of one sink host"
    assert len(audit.seen) == len(set(audit.seen))
    assert set(range(first, first + 30)) <= set(seen) & set(audit.seen)
    assert tally.hung == 0
    assert not tally.unexpected, tally.unexpected
    assert set(tally.failed) <= DOCUMENTED, tally.failed
    figures(**tally.figures(), recovery_s=round(recovery, 2), events=n + 1, nodes=3)
