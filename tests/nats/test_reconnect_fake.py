"""The native client against a fake server that misbehaves: INFO fields of the wrong type (at
the first connection and on a running one), a server that drops every client right after
accepting it (the backoff must grow, not restart), a PING flood (the PONGs count against
``max_pending``). Each test is bounded in time; waits are on conditions."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio

from actorbus import App, BusError
from actorbus._transport.native import open_native
from actorbus._transport.settings import NatsConnectError

from .fakeserver import fake_server, info_line, stay

pytestmark = pytest.mark.nats


@pytest.mark.parametrize("bad", [{"connect_urls": 5}, {"max_payload": "lots"}])
async def test_a_bad_info_at_the_first_connection_is_one_line(bad: dict[str, object]) -> None:
    async with fake_server(stay, lambda n: info_line(**bad)) as server:
        with trio.fail_after(10), pytest.raises(NatsConnectError, match="INFO field") as info:
            async with open_native(server.url, connect_timeout=3):
                pass
        assert "\n" not in str(info.value)
        with trio.fail_after(10), pytest.raises(BusError, match="INFO field") as app_info:
            async with App(bus=server.url):
                pass
        assert "\n" not in str(app_info.value)


async def test_a_bad_info_on_a_running_connection_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def bad_info_once(stream: trio.SocketStream, number: int) -> None:
        seen = b""
        while number == 0 and b"PUB go " not in seen:  # the client is up and running
            data = await stream.receive_some(65536)
            if not data:
                return
            seen += data
        if number == 0:
            await stream.send_all(info_line(connect_urls=5))
        await stay(stream, number)

    async with fake_server(bad_info_once) as server:
        with trio.fail_after(10):
            async with open_native(server.url, reconnect_wait=0.05) as t:
                t.publish("go", b"")
                await server.wait_for(2)
                await t.wait_connected()
                await t.flush()
                assert t.statistics()["reconnects"] == 1
                assert t.max_payload == 1048576
    lost = [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lost) == 1 and "INFO field 'connect_urls'" in lost[0]


async def test_backoff_grows_across_connections_that_drop_at_once() -> None:
    """Each connection is accepted and dropped with a -ERR at once: without a backoff that
    outlives a connection the client would reconnect about a thousand times a second."""
    wait = 0.05

    async def drop(stream: trio.SocketStream, number: int) -> None:
        await stream.send_all(b"-ERR 'Unknown Protocol Operation'\r\n")

    async with fake_server(drop) as server:
        with trio.fail_after(20):
            async with open_native(server.url, reconnect_wait=wait):
                await server.wait_for(7)
        times = server.accepted[:7]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 0 (the first drop), then wait, 2, 4, 8 and 8 times wait, each at least 0.8 of that.
    for gap, factor in zip(gaps[1:], [1, 2, 4, 8, 8], strict=True):
        assert gap >= 0.8 * wait * factor, gaps


async def test_a_ping_flood_is_bounded_by_max_pending(caplog: pytest.LogCaptureFixture) -> None:
    flood = b"PING\r\n" * 100_000  # 600 kB of PINGs, read without reading the PONGs

    async def ping_flood(stream: trio.SocketStream, number: int) -> None:
        if number == 0:
            for _ in range(200):  # at most 120 MB, far past the bound
                await stream.send_all(flood)
        await stay(stream, number)

    async with fake_server(ping_flood) as server:
        with trio.fail_after(30):
            async with open_native(server.url, reconnect_wait=0.05, max_pending=65536) as t:
                await server.wait_for(2)
                await t.wait_connected()
                await t.flush()
    records = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("PINGs faster than it reads" in m for m in records), records


async def test_a_connection_that_drops_while_the_app_starts_is_a_bus_error() -> None:
    async def drop_at_first_flush(stream: trio.SocketStream, number: int) -> None:
        seen = b""
        while number == 0 and b"PING\r\n" not in seen:  # the App's first flush
            data = await stream.receive_some(65536)
            if not data:
                return
            seen += data
        if number:
            await stay(stream, number)

    async with fake_server(drop_at_first_flush) as server:
        with trio.fail_after(10), pytest.raises(BusError, match="cannot start the App") as info:
            async with App(bus=server.url):
                pass
    assert "\n" not in str(info.value) and "flush interrupted" in str(info.value)
