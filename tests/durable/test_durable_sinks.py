"""Durable sinks on a real nats-server with JetStream: events survive a sink host that was down,
replicas share them, a failing handler ends as a dead letter. Each case is bounded in time."""

from __future__ import annotations

import json
import signal
from collections import Counter
from typing import Any

import pytest
import trio

from actorbus import App, BusError
from actorbus._transport.cluster import open_cluster
from actorbus._transport.embedded import EmbeddedServer
from actorbus._transport.jetstream import JetStream
from actorbus._wire import jetstream as _js

from ..cli.helpers import actorbus, actorbus_env, running
from . import actors
from .actors import Cards, Files, Groups, Long, OneAtATime, Users

pytestmark = pytest.mark.nats


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


async def _dlq(url: str, plane: str, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    done = await actorbus("dlq", *args, "--json", "--nats", url, "--plane", plane)
    letters = [json.loads(line) for line in done.stdout.decode().splitlines() if line]
    return done.returncode, letters, done.stderr.decode()


async def test_a_handler_that_raises_is_retried_then_a_dead_letter_then_replayed(
    server: EmbeddedServer,
) -> None:
    _reset()
    plane = "dead1"
    Cards.fail = {13}
    with trio.fail_after(60):
        async with App(Users(), Cards(), bus=server.url, plane=plane) as app:
            users = app.actors[0]
            for user_id in (12, 13, 14):
                await users.on_user_deleted(user_id=user_id)
            await actors.CARDS.wait_for(2)
            while True:  # bounded by fail_after: each look is one short command
                code, letters, err = await _dlq(server.url, plane)
                assert code == 0, err
                if letters:
                    break
            (letter,) = letters
            assert letter["sink"] == "cards.example" and letter["deliveries"] == "2"
            assert "card store down for user 13" in letter["error"]
            assert letter["source"] == "users.example"
            assert (await _dlq(server.url, plane, "files.example"))[1] == []
            Cards.fail = set()
            done = await actorbus(
                "dlq", "cards.example", "--replay", "--nats", server.url, "--plane", plane
            )
            assert done.returncode == 0, done.stderr.decode()
            await actors.CARDS.wait_for(3)
            assert (await _dlq(server.url, plane))[1] == []
    assert sorted(u for u, _, _ in actors.CARDS.ids) == [12, 13, 14]
    (replayed,) = [(e, d) for u, e, d in actors.CARDS.ids if u == 13]
    assert replayed[1] == 1  # a fresh delivery of the same event id


async def test_two_replicas_share_the_events(server: EmbeddedServer) -> None:
    OneAtATime.seen = []
    actors.ONE.__init__()  # type: ignore[misc]
    with trio.fail_after(60):
        async with App(bus=server.url, plane="share1") as app:
            users = await app.add(Users())
            a, b = await app.add(OneAtATime()), await app.add(OneAtATime())
            for user_id in range(200):
                await users.on_user_deleted(user_id=user_id)
            await actors.ONE.wait_for(200)
            await trio.testing.wait_all_tasks_blocked(0.2)
    handled = Counter(u for u, _ in OneAtATime.seen)
    assert sorted(handled) == list(range(200)) and set(handled.values()) == {1}
    by = Counter(i for _, i in OneAtATime.seen)
    assert set(by) == {a.instance, b.instance}, by


async def test_a_server_without_jetstream_refuses_a_durable_sink_in_one_line() -> None:
    with EmbeddedServer(jetstream=False) as plain, trio.fail_after(30):
        async with App(bus=plain.url, plane="nojs1") as app:
            with pytest.raises(BusError) as caught:
                await app.add(Files())
    assert str(caught.value) == (
        "files.example: durable sinks need JetStream: start nats-server with -js"
    )


def _handled(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("HANDLED ")]


async def test_a_sink_killed_while_it_handles_events_handles_every_one_afterwards(
    server: EmbeddedServer,
) -> None:
    plane = "kill1"
    target = "tests.durable.proc_actors:Slow"
    args = (target, "--nats", server.url, "--plane", plane)
    with trio.fail_after(90):
        async with App(Users(), bus=server.url, plane=plane) as app:
            users = app.actors[0]
            async with running(*args, env=actorbus_env(HOLD_EVENT="50")) as first:
                for user_id in range(300):
                    await users.on_user_deleted(user_id=user_id)
                await first.wait_stdout("HOLDING 50")
                first.signal(signal.SIGKILL)
                await first.wait()
            before = set(_handled(first.stdout))
            assert 50 not in before
            async with running(*args) as second:
                while set(_handled(second.stdout)) | before != set(range(300)):
                    await second._changed.wait()
    (again,) = [line for line in second.stdout if line.startswith("HANDLED 50 ")]
    assert again != "HANDLED 50 1"  # delivered again after the kill


async def test_a_node_of_a_three_node_cluster_killed_during_1000_events(plane: str) -> None:
    _reset()
    async with open_cluster(3) as cluster:
        node = cluster.urls
        with trio.fail_after(120):
            async with App(Users(), Files(), bus=node[0], plane=plane) as app:
                users = app.actors[0]
                info = await _stream_info(app, _js.stream_name(app.plane, "users.example"))
                assert info["config"]["num_replicas"] == 3
                leader = info["cluster"]["leader"]
                victim = next(i for i in (1, 2) if cluster.nodes[i] and f"-{i + 1}" != leader[-2:])
                for user_id in range(1000):
                    if user_id == 300:
                        await trio.to_thread.run_sync(lambda: cluster.stop_node(victim, kill=True))
                    await users.on_user_deleted(user_id=user_id)
                await actors.FILES.wait_for(1000)
    assert {u for u, _, _ in actors.FILES.ids} == set(range(1000))


async def _stream_info(app: App, stream: str) -> dict[str, Any]:
    return await _api(app, f"STREAM.INFO.{stream}")


async def _api(app: App, what: str) -> dict[str, Any]:
    js = JetStream(app.transport, f"{app.plane}.js.test.~info")
    await js.start()
    try:
        return await js.api(what)
    finally:
        await js.aclose()


async def test_actorbus_run_against_a_server_without_jetstream_says_so_and_exits_5() -> None:
    with EmbeddedServer(jetstream=False) as plain:
        done = await actorbus("run", "tests.durable.actors:Files", "--nats", plain.url)
    assert done.returncode == 5
    assert done.stderr.decode() == (
        "actorbus: durable sinks need JetStream: start nats-server with -js\n"
    )


async def test_the_nats_py_client_refuses_durable_sinks_naming_the_default(
    server: EmbeddedServer,
) -> None:
    with trio.fail_after(30):
        async with App(bus=server.url, plane="natspy1", nats_client="nats-py") as app:
            with pytest.raises(BusError) as caught:
                await app.add(Files())
    assert str(caught.value) == (
        "files.example: durable sinks run on the default NATS client, not nats-py: unset "
        "ACTORBUS_NATS_CLIENT (or pass nats_client='native')"
    )


async def test_a_handler_longer_than_the_ack_wait_keeps_its_event(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actorbus._runtime import durable

    monkeypatch.setattr(_js, "ACK_WAIT", 1.0)
    monkeypatch.setattr(durable, "PROGRESS_EVERY", 1.0 / 3)
    actors.LONG.__init__()  # type: ignore[misc]
    with trio.fail_after(60):
        async with App(Users(), Long(), Long(), bus=server.url, plane="long1") as app:
            await app.actors[0].on_user_deleted(user_id=5)
            await actors.LONG.wait_for(1)  # 3 ack waits after it was delivered
            stream = _js.stream_name("long1", "users.example")
            consumer = _js.consumer_name("long.example", 417, "POST", "/on-user-deleted")
            info = await _api(app, f"CONSUMER.INFO.{stream}.{consumer}")
    assert info["num_redelivered"] == 0  # without +WPI it went back after the first ack wait
    assert [(u, d) for u, _, d in actors.LONG.ids] == [(5, 1)]
