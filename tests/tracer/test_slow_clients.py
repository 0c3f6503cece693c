"""The tracer under hostile or careless clients: clients that never read lose their own oldest
spans (counted, bounded per client) while a reading client gets every span; a flood of refused
websocket upgrades makes a bounded number of log lines. Bounded in count and time."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import trio
import trio_websocket

from actorbus._tracer.clients import Client, LogLimiter

from .actors import Back
from .test_origin import UPGRADE
from .wsutil import http, next_span, tracer_app, ws_client

SLOW_CLIENTS = 20
QUEUE = 16
CALLS = 100  # two spans each


def test_a_full_queue_drops_its_oldest_in_constant_time() -> None:
    client = Client("", 3)
    assert [client.offer(t) for t in "abcde"] == [True, True, True, False, False]
    assert list(client.queue) == ["c", "d", "e"]
    assert (client.dropped, client.total_dropped) == (2, 2)
    client.close()
    assert not client.offer("f") and not client.queue


async def test_the_log_limiter_says_how_many_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    limiter = LogLimiter(logging.getLogger("actorbus.test"), interval=1000.0)
    logged = [limiter.warning("k", "refused %s", i) for i in range(50)]
    assert logged == [True] + [False] * 49
    assert limiter.warning("other", "another kind")
    limiter.interval = 0.0
    assert limiter.warning("k", "refused %s", "again")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "refused 0" and lines[-1].startswith("refused again (and 49 more")


async def _stalled(port: int, nursery: trio.Nursery) -> trio_websocket.WebSocketConnection:
    """A websocket client that reads its hello and then never reads again."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    await sock.connect(("127.0.0.1", port))
    ws = await trio_websocket.wrap_client_stream(
        nursery, trio.SocketStream(sock), "127.0.0.1", "/ws", message_queue_size=1
    )
    assert json.loads(await ws.get_message())["notice"] == "hello"
    return ws


async def test_clients_that_do_not_read_lose_only_their_own_spans(plane: str) -> None:
    async with tracer_app(plane, Back(), queue_size=QUEUE) as (app, server):
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                stalled = [await _stalled(server.port, nursery) for _ in range(SLOW_CLIENTS)]
                async with ws_client(server, app) as good:
                    back = app.client(Back)
                    for n in range(CALLS):
                        await back.double(n=n)
                        # the reading client gets each span, with no notice of a drop
                        for _ in range(2):
                            span = await next_span(good)
                            assert span["path"] == "/double"
                    stats = server.statistics()
                    assert stats.spans_received == 2 * CALLS
                    clients = list(server._clients)
                    assert len(clients) == SLOW_CLIENTS + 1
                    assert all(len(c.queue) <= QUEUE for c in clients)
                    slow = [c for c in clients if c.total_dropped]
                    assert len(slow) == SLOW_CLIENTS  # each stalled client lost its own
                    assert stats.dropped == sum(c.total_dropped for c in clients)
                for ws in stalled:
                    await ws.aclose()
                nursery.cancel_scope.cancel()


async def test_refused_upgrades_are_logged_a_few_times(
    plane: str, caplog: pytest.LogCaptureFixture
) -> None:
    refused = 2000
    async with tracer_app(plane) as (_, server):
        port = server.port
        raw = UPGRADE.format(host=f"127.0.0.1:{port}", origin="https://evil.example").encode()
        with trio.fail_after(120):
            for _ in range(refused):
                status, _, _ = await http(port, raw)
                assert status == 403
        assert server.statistics().refused == refused
    lines = [r for r in caplog.records if "refused a websocket" in r.getMessage()]
    assert 1 <= len(lines) <= 3, len(lines)
