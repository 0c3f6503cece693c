"""Durable sinks on a real nats-server with JetStream: events survive a sink host that was down,
replicas share them, a failing handler ends as a dead letter. Each case is bounded in time."""

from __future__ import annotations

from collections import Counter

import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer

from . import actors
from .actors import Files, Groups, Users


def _reset() -> None:
    actors.FILES.__init__()  # type: ignore[misc]
    actors.CARDS.__init__()  # type: ignore[misc]
    actors.GROUPS.__init__()  # type: ignore[misc]


async def test_events_fired_while_every_replica_was_down_are_each_handled_once(
    server: EmbeddedServer,
) -> None:
    _reset()
    plane = "down1"
    with trio.fail_after(60):
        async with App(bus=server.url, plane=plane) as app:
            users = await app.add(Users())
            files = await app.add(Files())  # the consumer exists from here on
            await app.remove(files)
            for user_id in range(1000):
                await users.on_user_deleted(user_id=user_id)
            await app.add(Files())
            await actors.FILES.wait_for(1000)
            await trio.testing.wait_all_tasks_blocked(0.2)
    handled = Counter(u for u, _, _ in actors.FILES.ids)
    assert sorted(handled) == list(range(1000))
    assert set(handled.values()) == {1}
    assert {d for _, _, d in actors.FILES.ids} == {1}
    assert len({e for _, e, _ in actors.FILES.ids}) == 1000


async def test_a_gathering_hears_durable_and_live_sinks(server: EmbeddedServer) -> None:
    _reset()
    with trio.fail_after(30):
        async with App(Users(), Files(), Groups(), bus=server.url, plane="gather1") as app:
            users = app.actors[0]
            async with users.on_user_deleted(user_id=7) as gathering:
                replies = sorted([r.value async for r in gathering])
            assert gathering.complete
    assert replies == ["files", "groups"]
    assert [u for u, _, _ in actors.FILES.ids] == [7]
    assert [u for u, _, _ in actors.GROUPS.ids] == [7]
