"""The ingress's limits and headers against ``actorbus run --http`` on a real nats-server:
body size, concurrency, a slowloris client, 1,000 concurrent requests, Request-Timeout,
traceparent and CORS."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
import trio

from actorbus import App
from actorbus._wire.frames import EMPTY_BODY, encode_body

from .conftest import served

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_an_oversized_body_is_413(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane, "--http-max-body", "1000") as s:
        big = msgspec.json.encode({"text": "x" * 2000})
        r = await s.client.post("/shop.example/echo", content=big)
        assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLarge"

        # No Content-Length (chunked): the limit holds while reading.
        host, port = s.url.removeprefix("http://").rsplit(":", 1)
        chunk = b"64\r\n" + b" " * 100 + b"\r\n"
        head = b"POST /shop.example/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        with trio.fail_after(20):
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(head + chunk * 20 + b"0\r\n\r\n")
                reply = b""
                while b"\r\n" not in reply:
                    data = await stream.receive_some(4096)
                    assert data, reply
                    reply += data
        assert reply.startswith(b"HTTP/1.1 413"), reply
        r = await s.client.post("/shop.example/echo", json={"text": "x" * 990})
        assert r.status_code == 413  # 990 characters and {"text":""}: 1002 bytes
        r = await s.client.post("/shop.example/echo", json={"text": "small"})
        assert r.status_code == 200


async def test_past_the_concurrency_bound_is_503(nats_url: str, plane: str) -> None:
    async with (
        served(nats_url, plane, "--http-max-concurrent", "3") as s,
        App(bus=nats_url, plane=plane, hostname="test.actorbus") as app,
    ):
        answers: list[int] = []

        async def hold() -> None:
            r = await s.client.post("/shop.example/hold")
            answers.append(r.status_code)

        def bus_call(path: str, body: msgspec.Raw = EMPTY_BODY) -> Any:
            return app.caller.call("shop.example", 443, "POST", path, body, msgspec.msgpack.decode)

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(hold)
                await bus_call("/until-held", encode_body({"n": 3}))  # over the bus, not HTTP
                r = await s.client.post("/shop.example/echo", json={"text": "one too many"})
                assert r.status_code == 503 and r.json()["error"]["type"] == "Overloaded"
                assert r.headers["retry-after"] == "1"
                await bus_call("/let-go")
        assert answers == [200, 200, 200]
        r = await s.client.post("/shop.example/echo", json={"text": "room again"})
        assert r.status_code == 200


async def test_a_slowloris_client_is_cut_off(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane, "--http-idle-timeout", "1") as s:
        host, port = s.url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(b"POST /shop.example/echo HTTP/1.1\r\nHost: x\r\n")
        started = trio.current_time()
        closed = False
        with trio.fail_after(20):
            try:
                while True:  # one header byte every 0.2 s: never completes the head
                    await stream.send_all(b"X")
                    with trio.move_on_after(0.2):
                        if await stream.receive_some(4096) == b"":
                            closed = True
                            break
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                closed = True
        assert closed
        assert trio.current_time() - started < 15  # the 1 s header timeout, not the 20 s bound
        await stream.aclose()
        # Meanwhile (and after) the ingress answers everyone else.
        r = await s.client.post("/shop.example/echo", json={"text": "still here"})
        assert r.status_code == 200


async def test_a_thousand_concurrent_requests(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane) as s:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=s.url, limits=limits, timeout=120) as client:

            async def one(i: int) -> None:
                r = await client.get("/shop.example/sum", params={"a": i, "b": 1})
                assert r.json() == i + 1
                statuses.append(r.status_code)

            with trio.fail_after(240):
                async with trio.open_nursery() as nursery:
                    for i in range(1000):
                        nursery.start_soon(one, i)
        assert statuses == [200] * 1000


async def test_request_timeout_traceparent_and_cors(nats_url: str, plane: str) -> None:
    origin = "http://app.example"
    async with served(nats_url, plane, "--cors", origin) as s:
        c = s.client
        # The budget comes from Request-Timeout (seconds): a slower endpoint answers 408.
        with trio.fail_after(15):
            r = await c.post(
                "/shop.example/slow", json={"seconds": 30}, headers={"Request-Timeout": "0.5"}
            )
        assert r.status_code == 408 and r.json()["error"]["status"] == 408
        r = await c.post(
            "/shop.example/slow", json={"seconds": 0}, headers={"Request-Timeout": "5"}
        )
        assert r.json() == "done"
        for bad in ("soon", "-1", "0", "inf"):
            r = await c.post(
                "/shop.example/echo", json={"text": "x"}, headers={"Request-Timeout": bad}
            )
            assert r.status_code == 400, bad
        # traceparent in continues the trace, and the hop's own span comes back out.
        trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        r = await c.post(
            "/shop.example/echo",
            json={"text": "t"},
            headers={"traceparent": f"00-{trace}-{parent}-01"},
        )
        version, got_trace, span, _flags = r.headers["traceparent"].split("-")
        assert (version, got_trace) == ("00", trace) and span != parent and len(span) == 16
        r = await c.post("/shop.example/echo", json={"text": "t"})
        assert len(r.headers["traceparent"].split("-")[1]) == 32  # a fresh trace otherwise
        # CORS: the allowed origin gets the headers, a preflight gets 204; others get none.
        r = await c.post("/shop.example/echo", json={"text": "c"}, headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin
        r = await c.options(
            "/shop.example/echo",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 204 and "POST" in r.headers["access-control-allow-methods"]
        r = await c.post(
            "/shop.example/echo", json={"text": "c"}, headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_cors_is_off_by_default(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane) as s:
        r = await s.client.post(
            "/shop.example/echo", json={"text": "c"}, headers={"Origin": "http://app.example"}
        )
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        r = await s.client.options(
            "/shop.example/echo",
            headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
