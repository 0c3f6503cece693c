"""The tracer server: the page over HTTP, spans over websockets, filters, slow and bad clients."""

from __future__ import annotations

import json
import socket

import msgspec
import pytest
import trio
import trio.lowlevel
import trio_websocket

from actorbus._observe.spans import Span

from .actors import Back, Front, Holder
from .wsutil import http, next_span, spans, tracer_app, ws_client


async def test_page_schema_and_http_errors(plane: str) -> None:
    async with tracer_app(plane) as (_, server):
        port = server.port
        with trio.fail_after(10):
            status, headers, body = await http(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 200 and headers["content-type"].startswith("text/html")
            assert b"actorbus tracer" in body and b"new WebSocket" in body
            status, _, body = await http(port, b"GET /schema.json HTTP/1.1\r\nHost: x\r\n\r\n")
            schema = json.loads(body)
            assert status == 200 and "Span" in schema["$defs"]
            assert "trace_id" in schema["$defs"]["Span"]["properties"]
            status, _, _ = await http(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 404
            status, _, _ = await http(
                port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            )
            assert status == 405
            status, _, _ = await http(port, b"\x16\x03\x01 not http at all\r\n\r\n")
            assert status == 400


async def test_clients_receive_each_span_as_json(plane: str) -> None:
    async with tracer_app(plane, Back(), Front()) as (app, server):
        with trio.fail_after(10):
            async with ws_client(server, app) as ws:
                assert await app.client(Front).quad(n=1) == 4
                got = await spans(ws, 6)
    decoded = [msgspec.convert(s, Span) for s in got]
    assert len({s.trace_id for s in decoded}) == 1
    assert {s.side for s in decoded} == {"client", "server"}
    assert server.statistics().spans_received >= 6


async def test_query_string_filters(plane: str) -> None:
    holder = Holder()
    async with tracer_app(plane, Back(), Front(), holder) as (app, server):
        with trio.fail_after(10):
            async with (
                ws_client(server, app, "?host=back.test") as by_host,
                ws_client(server, app, "?errors=1") as errors,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(app.client(Holder).hold)
                await holder.started.wait()
                async with ws_client(server, app, f"?trace_id={holder.trace_id}") as by_trace:
                    await app.client(Front).quad(n=1)
                    with pytest.raises(Exception, match="teapot"):
                        await app.client(Front).fails()
                    holder.release.set()
                    traced = await spans(by_trace, 4)
                assert {s["trace_id"] for s in traced} == {holder.trace_id}
                for s in await spans(by_host, 4 + 2 + 2):  # quad, fails, hold's own call
                    assert "back.test" in (s["from_host"], s["to_host"])
                for s in await spans(errors, 4):
                    assert s["status"] >= 400 and s["error"] is not None


def _slow_socket_client(port: int) -> trio.SocketStream:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    return trio.SocketStream(sock)


async def test_a_slow_client_is_told_what_it_missed(plane: str) -> None:
    async with tracer_app(plane, Back(), queue_size=32) as (app, server):
        with trio.fail_after(60):
            stream = _slow_socket_client(server.port)
            await stream.socket.connect(("127.0.0.1", server.port))
            async with trio.open_nursery() as nursery:
                slow = await trio_websocket.wrap_client_stream(
                    nursery, stream, "127.0.0.1", "/ws", message_queue_size=1
                )
                assert json.loads(await slow.get_message())["notice"] == "hello"
                async with ws_client(server, app) as fast:
                    fast_seen = 0
                    back = app.client(Back)
                    calls = 0
                    while server.statistics().dropped == 0:  # the slow client never reads
                        await back.double(n=calls)
                        calls += 1
                        for _ in range(2):
                            await next_span(fast)
                            fast_seen += 1
                        assert calls < 50_000
                    stats = server.statistics()
                    assert fast_seen == 2 * calls == stats.spans_received
                    await back.double(n=-1)  # one more: the slow client's queue is still full
                    notices: list[dict[str, int]] = []
                    while not notices:  # now it reads: the missed count comes first
                        msg = json.loads(await slow.get_message())
                        if msg.get("notice") == "dropped":
                            notices.append(msg)
                    assert notices[0]["count"] > 0
                    assert await back.double(n=2) == 4
                    assert (await next_span(fast))["path"] in ("/double",)
                await slow.aclose()
                nursery.cancel_scope.cancel()


async def _garbage_after_handshake(port: int, payload: bytes | None) -> None:
    """Complete a websocket handshake by hand, then send ``payload`` (None: just hang up)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(4096)
        assert head.startswith(b"HTTP/1.1 101")
        if payload is None:
            return
        await stream.send_all(payload)
        with trio.move_on_after(5):
            while await stream.receive_some(4096):  # the server closes on us
                pass


async def test_garbage_and_abrupt_disconnects_disturb_no_one(plane: str) -> None:
    async with tracer_app(plane, Back()) as (app, server):
        port = server.port
        back = app.client(Back)
        with trio.fail_after(30):
            async with ws_client(server, app) as good:
                # not HTTP, half a request head, a bad websocket frame, an abrupt close
                await http(port, b"\x00\xff" * 100 + b"\r\n\r\n")
                half = await trio.open_tcp_stream("127.0.0.1", port)
                await half.send_all(b"GET / HTTP/1.1\r\nHo")
                await half.aclose()
                await _garbage_after_handshake(port, b"\xff\xff\xff\xff garbage frame")
                await _garbage_after_handshake(port, None)  # handshake, then gone
                # a real client that sends junk text, then one too large message
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                async with stream, trio.open_nursery() as nursery:
                    rude = await trio_websocket.wrap_client_stream(nursery, stream, "x", "/ws")
                    await rude.get_message()  # hello
                    await rude.send_message("{not json")
                    await rude.send_message(b"\x00\x01")
                    assert await back.double(n=1) == 2
                    assert (await next_span(rude))["path"] == "/double"
                    with pytest.raises(trio_websocket.ConnectionClosed):
                        await rude.send_message("x" * 100_000)
                        while True:
                            await rude.get_message()
                    nursery.cancel_scope.cancel()
                # the well-behaved client saw everything, and the bus never noticed
                for n in range(3):
                    assert await back.double(n=n) == 2 * n
                got = await spans(good, 8)
                assert sum(1 for s in got if s["side"] == "server") == 4
        assert server.statistics().clients == 0


async def test_many_clients_come_and_go_while_the_bus_serves(plane: str) -> None:
    async with tracer_app(plane, Back()) as (app, server):
        back = app.client(Back)
        served = 0
        progress = trio.Event()

        async def keep_calling() -> None:
            nonlocal served, progress
            while True:
                assert await back.double(n=served) == 2 * served
                served += 1
                progress.set()
                progress = trio.Event()

        async def visitor(i: int) -> None:
            url = f"ws://127.0.0.1:{server.port}/ws?host=back.test"
            if i % 3 == 0:  # abrupt: handshake then drop the TCP connection
                await _garbage_after_handshake(server.port, None)
                return
            async with trio_websocket.open_websocket_url(url) as ws:
                assert json.loads(await ws.get_message())["notice"] == "hello"
                if i % 3 == 1:
                    await next_span(ws)

        with trio.fail_after(60):
            async with trio.open_nursery() as calls:
                calls.start_soon(keep_calling)
                async with trio.open_nursery() as crowd:
                    for i in range(200):
                        crowd.start_soon(visitor, i)
                before = served
                while served < before + 10:  # and the bus still serves after the crowd left
                    await progress.wait()
                calls.cancel_scope.cancel()
            stats = server.statistics()
            assert stats.clients == 0 and stats.connections >= 200
            await app.hub.spans.wait_quiet()  # the last client left: the tracer said "off"
