"""Faults on a real nats-server: the server goes away and comes back, payloads over its limit,
nobody listening, a URL where nothing listens."""

from __future__ import annotations

import pytest
import trio

from actorbus import App, BusError, PayloadTooLarge, endpoint
from actorbus._transport.embedded import EmbeddedServer

from ..runtime.actors import Calc

pytestmark = [pytest.mark.nats, pytest.mark.usefixtures("any_nats_client")]


async def test_calls_fail_fast_while_the_server_is_away_and_work_when_it_is_back(
    server: EmbeddedServer, plane: str
) -> None:
    url = server.url
    async with App(Calc(), bus=url, plane=plane) as served, App(bus=url, plane=plane) as app:
        assert await app.client(Calc).add(a=1) == 2
        await trio.to_thread.run_sync(server.stop)
        await app.transport.wait_disconnected()  # type: ignore[attr-defined]
        with trio.fail_after(2), pytest.raises(BusError, match="not connected"):
            await app.client(Calc).add(a=1)
        await trio.to_thread.run_sync(server.start)  # same port
        with trio.fail_after(20):
            await app.transport.wait_connected()  # type: ignore[attr-defined]
            await served.transport.wait_connected()  # type: ignore[attr-defined]
            await served.transport.flush()
            await app.transport.flush()
        assert await app.client(Calc).add(a=2) == 3


async def test_payloads_over_the_servers_limit(plane: str) -> None:
    with EmbeddedServer(max_payload=4096) as server:
        async with (
            App(Calc(), bus=server.url, plane=plane),
            App(bus=server.url, plane=plane) as app,
        ):
            assert app.transport.max_payload == 4096
            assert await app.client(Calc).echo(data="x" * 10_000) == "x" * 10_000  # in pieces
            with pytest.raises(PayloadTooLarge) as info:
                await app.client(Calc).echo(data="x" * (33 * 1024 * 1024))  # past max_body
            assert info.value.status == 413
            assert await app.client(Calc).echo(data="small") == "small"


async def test_replies_over_the_servers_limit(plane: str) -> None:
    class Big(Calc):
        hostname = "big.test"

        @endpoint
        async def blow(self, n: int) -> str:
            return "z" * n

    with EmbeddedServer(max_payload=4096) as server:
        url = server.url
        async with (
            App(Big(), bus=url, plane=plane, max_body=20_000),
            App(bus=url, plane=plane) as app,
        ):
            assert await app.client(Big).blow(n=10_000) == "z" * 10_000  # in pieces
            with pytest.raises(PayloadTooLarge) as info:  # a small request, a huge reply
                await app.client(Big).blow(n=30_000)
            assert info.value.status == 413 and "reply of" in str(info.value)
            assert await app.client(Big).blow(n=3) == "zzz"


async def test_first_connect_is_bounded_and_names_the_url(plane: str) -> None:
    with trio.fail_after(15), pytest.raises(BusError) as info:
        async with App(bus="nats://user:secret@127.0.0.1:9", plane=plane):
            pass
    assert "127.0.0.1:9" in str(info.value)
    assert "secret" not in str(info.value)
