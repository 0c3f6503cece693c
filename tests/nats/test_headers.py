"""NATS headers through each client and the memory bus: sent with HPUB, received as a dict;
a message without headers carries None (no dict on the hot path)."""

from __future__ import annotations

import trio

from actorbus._transport.base import Message, Transport
from actorbus._transport.embedded import EmbeddedServer
from actorbus._transport.memory import MemoryBus

from .conftest import open_client


async def _round_trip(sender: Transport, receiver: Transport) -> list[Message]:
    got: list[Message] = []
    both = trio.Event()

    def deliver(msg: Message) -> None:
        got.append(msg)
        if len(got) == 2:
            both.set()

    await receiver.subscribe("hdr.test", deliver)
    await receiver.flush()
    sender.publish("hdr.test", b"with", reply="hdr.reply", headers={"Nats-Msg-Id": "x.1", "K": "v"})
    sender.publish("hdr.test", b"without")
    await sender.flush()
    with trio.fail_after(5):
        await both.wait()
    return got


def _check(got: list[Message]) -> None:
    first, second = got
    assert first.data == b"with" and first.reply == "hdr.reply"
    assert first.headers is not None
    assert first.headers["Nats-Msg-Id"] == "x.1" and first.headers["K"] == "v"
    assert second.data == b"without" and second.headers is None


async def test_headers_travel_through_the_server(nats_server: EmbeddedServer, client: str) -> None:
    async with open_client(client, nats_server.url) as a, open_client(client, nats_server.url) as b:
        assert a.supports_headers
        _check(await _round_trip(a, b))


async def test_headers_travel_through_the_memory_bus() -> None:
    bus = MemoryBus()
    _check(await _round_trip(bus.connect(), bus.connect()))
