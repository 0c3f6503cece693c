"""The tracer websocket refuses other web pages: only its own page's origin, or no origin."""

from __future__ import annotations

import pytest
import trio

from actorbus._tracer.websocket import origin_allowed

from .wsutil import http, tracer_app, ws_client

UPGRADE = (
    "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize(
    ("headers", "listen", "ok"),
    [
        ([], "127.0.0.1", True),  # not a browser
        ([(b"Host", b"127.0.0.1:4280"), (b"Origin", b"http://127.0.0.1:4280")], "127.0.0.1", True),
        ([(b"Host", b"localhost:4280"), (b"Origin", b"http://localhost:4280")], "127.0.0.1", True),
        ([(b"Host", b"127.0.0.1:4280"), (b"Origin", b"https://evil.example")], "127.0.0.1", False),
        ([(b"Host", b"127.0.0.1:4280"), (b"Origin", b"null")], "127.0.0.1", False),
        # DNS rebinding: the page's own origin, but not a loopback name
        (
            [(b"Host", b"evil.example:4280"), (b"Origin", b"http://evil.example:4280")],
            "127.0.0.1",
            False,
        ),
        ([(b"Host", b"tracer.lan:4280"), (b"Origin", b"http://tracer.lan:4280")], "0.0.0.0", True),
        ([(b"Host", b"tracer.lan:4280"), (b"Origin", b"http://evil.example")], "0.0.0.0", False),
    ],
)
def test_origin_rules(headers: list[tuple[bytes, bytes]], listen: str, ok: bool) -> None:
    assert origin_allowed(headers, listen, 4280) is ok


async def test_a_foreign_origin_is_refused_and_the_own_one_accepted(plane: str) -> None:
    async with tracer_app(plane) as (app, server):
        port = server.port
        with trio.fail_after(10):
            own_host = f"127.0.0.1:{port}"
            status, _, body = await http(
                port, UPGRADE.format(host=own_host, origin="https://evil.example").encode()
            )
            assert status == 403 and b"cross-origin" in body
            own = [(b"Origin", f"http://127.0.0.1:{port}".encode())]
            async with ws_client(server, app, extra_headers=own):
                assert server.statistics().clients == 1
            async with ws_client(server, app):  # no Origin: a terminal client
                pass
            host = f"evil.example:{port}"
            status, _, _ = await http(
                port, UPGRADE.format(host=host, origin=f"http://{host}").encode()
            )
            assert status == 403
