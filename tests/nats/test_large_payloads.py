"""Large payloads on a real nats-server started with ``max_payload: 1MB``: a 10 MiB request and
reply, a 5 MiB event to three sink hosts, on both NATS clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio

from actorbus import Actor, App, PayloadTooLarge, endpoint, event, sink
from actorbus._transport.embedded import EmbeddedServer

pytestmark = [pytest.mark.nats, pytest.mark.usefixtures("any_nats_client")]

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def small_server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(max_payload=MIB) as server:
        yield server


class Store(Actor):
    hostname = "store.test"

    @endpoint
    async def put(self, data: bytes) -> int:
        return len(data)

    @endpoint
    async def get(self, n: int) -> bytes:
        return bytes(range(256)) * (n // 256)

    @endpoint
    async def echo(self, data: bytes) -> bytes:
        return data


class Source(Actor):
    hostname = "source.test"

    @event
    async def on_blob(self, data: bytes) -> int: ...


class _Sink(Actor):
    @sink(Source.on_blob)
    async def took(self, data: bytes) -> int:
        return len(data)


def _sinks() -> list[Actor]:
    return [type(f"Sink{i}", (_Sink,), {"hostname": f"sink{i}.test"})() for i in range(3)]


async def test_ten_mib_request_and_reply(small_server: EmbeddedServer, plane: str) -> None:
    url = small_server.url
    data = bytes(range(256)) * (10 * MIB // 256)
    replicas = [Store(), Store()]  # on two connections: the rest must reach the acker only
    async with (
        App(replicas[0], bus=url, plane=plane),
        App(replicas[1], bus=url, plane=plane),
        App(bus=url, plane=plane) as app,
    ):
        assert app.transport.max_payload == MIB
        store = app.client(Store)
        for _ in range(2):  # the queue group spreads them over both replicas
            assert await store.put(data=data) == len(data)  # in pieces, to one replica
        assert await store.get(n=len(data)) == data  # a reply in pieces
        assert await store.echo(data=data) == data  # both ways
        assert app.hub.fragments.budget.held == 0
        for replica in replicas:
            wire = replica.stats.wire
            assert wire["fragment_invalid"] == wire["fragment_unmatched"] == 0
        with pytest.raises(PayloadTooLarge):
            await store.put(data=b"x" * (33 * MIB))


async def test_five_mib_event_to_three_sink_hosts(small_server: EmbeddedServer, plane: str) -> None:
    url = small_server.url
    data = b"e" * (5 * MIB)
    sinks = _sinks()
    replicas = [type(sinks[0])()]  # a second replica of sink0: it must not get halves
    async with (
        App(*sinks, *replicas, bus=url, plane=plane) as sinking,
        App(Source(), bus=url, plane=plane) as src,
    ):
        source = src.actors[0]
        assert isinstance(source, Source)
        with trio.fail_after(30):
            replies = [r async for r in source.on_blob(data=data)]
        assert sorted((r.host, r.value) for r in replies) == [
            (f"sink{i}.test", len(data)) for i in range(3)
        ]
        wire = [a.stats.wire for a in sinking.actors]
        assert all(w["fragment_invalid"] == w["fragment_unmatched"] == 0 for w in wire)
