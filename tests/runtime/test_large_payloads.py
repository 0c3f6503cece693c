"""Large payloads on the memory bus and co-located: the same body limit and the same
`PayloadTooLarge` as over NATS, and frames past the bus's ``max_payload`` in pieces."""

from __future__ import annotations

import pytest
import trio

import actorbus
from actorbus import Actor, App, PayloadTooLarge, endpoint, event, sink
from actorbus._transport.memory import MemoryBus


class Big(Actor):
    hostname = "big.test"

    @endpoint
    async def echo(self, data: bytes) -> bytes:
        return data

    @endpoint
    async def blow(self, n: int) -> bytes:
        return b"z" * n


async def test_a_request_and_reply_past_max_payload_go_in_pieces(plane: str) -> None:
    bus = MemoryBus(max_payload=4096)
    async with App(Big(), bus=bus, plane=plane), App(bus=bus, plane=plane) as app:
        data = bytes(range(256)) * 400  # 100 KiB: 26 pieces each way
        assert await app.client(Big).echo(data=data) == data
        assert await app.client(Big).blow(n=50_000) == b"z" * 50_000
        assert app.hub.fragments.budget.held == 0  # every set released


@pytest.mark.parametrize("where", ["memory", "co-located"])
async def test_the_same_limit_everywhere(plane: str, where: str) -> None:
    bus = MemoryBus(max_payload=4096)
    limit = 10_000
    async with (
        App(Big(), bus=bus, plane=plane, max_body=limit) as served,
        App(bus=bus, plane=plane, max_body=limit) as other,
    ):
        app = served if where == "co-located" else other
        with pytest.raises(PayloadTooLarge) as info:
            await app.client(Big).echo(data=b"x" * 20_000)
        assert info.value.status == 413 and "over the limit of 10000" in str(info.value)
        with pytest.raises(PayloadTooLarge) as reply_info:  # a small request, a huge reply
            await app.client(Big).blow(n=20_000)
        assert "reply of" in str(reply_info.value)
        assert await app.client(Big).blow(n=9_000) == b"z" * 9_000


async def test_a_receiver_with_a_smaller_limit_refuses_with_payload_too_large(plane: str) -> None:
    bus = MemoryBus(max_payload=100_000)
    async with (
        App(Big(), bus=bus, plane=plane, max_body=20_000) as served,
        App(bus=bus, plane=plane) as app,
    ):
        for size in (25_000, 300_000):  # in one message, and in pieces
            with pytest.raises(PayloadTooLarge, match=r"over big\.test's limit"):
                await app.client(Big).echo(data=b"x" * size)
        assert served.actors[0].stats.wire["too_large"] == 2
        assert await app.client(Big).echo(data=b"y" * 19_000) == b"y" * 19_000


@pytest.mark.parametrize("max_payload", [4096, 1024 * 1024])
async def test_a_caller_with_a_smaller_limit_refuses_a_large_reply(
    plane: str, max_payload: int
) -> None:
    bus = MemoryBus(max_payload=max_payload)
    async with App(Big(), bus=bus, plane=plane), App(bus=bus, plane=plane, max_body=10_000) as app:
        with pytest.raises(PayloadTooLarge, match="over this caller's limit of 10000"):
            await app.client(Big).blow(n=20_000)  # in pieces, and in one message
        assert app.caller.guard.counts["too_large"] == 1
        assert await app.client(Big).blow(n=5_000) == b"z" * 5_000


def test_one_public_payload_too_large() -> None:
    err = PayloadTooLarge("x", 5, 4)
    assert isinstance(err, actorbus.Error) and isinstance(err, actorbus.transport.PayloadTooLarge)
    assert (err.size, err.limit, err.status) == (5, 4, 413)


def test_max_body_is_checked() -> None:
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_body"):
            App(max_body=bad)  # type: ignore[arg-type]
    assert App().options.max_body == 32 * 1024 * 1024


class Source(Actor):
    hostname = "source.test"

    @event
    async def on_blob(self, data: bytes) -> int: ...


class Sink(Actor):
    def __init__(self, hostname: str) -> None:
        super().__init__()
        self.got: list[int] = []
        self.seen = trio.Event()

    @sink(Source.on_blob)
    async def took(self, data: bytes) -> int:
        self.got.append(len(data))
        self.seen.set()
        return len(data)


def _sink(host: str) -> Sink:
    cls = type(f"Sink_{host.replace('.', '_')}", (Sink,), {"hostname": host})
    return cls(host)


async def test_an_event_in_pieces_reaches_each_sink_host_once(plane: str) -> None:
    bus = MemoryBus(max_payload=4096)
    sinks = [_sink(f"s{i}.test") for i in range(3)]
    replicas = [_sink("s0.test")]
    async with (
        App(*sinks, *replicas, bus=bus, plane=plane),
        App(Source(), bus=bus, plane=plane) as src,
    ):
        source = src.actors[0]
        data = b"e" * 60_000
        sizes = sorted([r.value async for r in source.on_blob(data=data)])
        assert sizes == [60_000] * 3
        assert sum(len(s.got) for s in (sinks[0], replicas[0])) == 1  # one replica of s0
        await source.on_blob(data=data)  # fire and forget: the rest goes to each acker
        with trio.fail_after(5):
            for s in sinks[1:]:
                while len(s.got) < 2:
                    s.seen = trio.Event()
                    await s.seen.wait()


class Last(Actor):
    hostname = "last.test"

    def __init__(self) -> None:
        super().__init__()
        self.done = trio.Event()

    @endpoint
    async def blob(self, n: int) -> bytes:
        self.done.set()  # its App stops as soon as this returns
        return b"l" * n


async def test_a_reply_in_pieces_is_sent_whole_while_its_app_stops(
    plane: str, autojump_clock: trio.abc.Clock
) -> None:
    bus, last = MemoryBus(max_payload=4096), Last()
    async with App(bus=bus, plane=plane) as app, trio.open_nursery() as nursery:
        started = trio.Event()

        async def serve() -> None:
            async with App(last, bus=bus, plane=plane):
                started.set()
                await last.done.wait()

        nursery.start_soon(serve)
        await started.wait()
        assert await app.client(Last).blob(n=100_000) == b"l" * 100_000
