"""A tiny HTTP GET for the tests (bounded): status and body."""

from __future__ import annotations

import trio


async def get(port: int, path: str, *, timeout: float = 10) -> tuple[int, str]:
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode()


async def wait_status(port: int, path: str, status: int, *, timeout: float = 30) -> str:
    """GET ``path`` until it answers ``status`` (a bounded condition loop); returns the body."""
    seen: list[tuple[int, str]] = []
    with trio.move_on_after(timeout):
        while True:
            try:
                got = await get(port, path)
            except OSError as exc:
                seen.append((0, repr(exc)))
            else:
                if got[0] == status:
                    return got[1]
                seen.append(got)
            await trio.sleep(0.05)  # a polling interval, not a synchronisation
    raise AssertionError(f"{path} never answered {status} in {timeout} s: last {seen[-3:]}")
