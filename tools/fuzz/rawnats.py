"""A bare NATS connection that writes the protocol by hand, for what a client library would
never send: header blocks of any size or shape (``HPUB``), including forged status lines.

Only what the fuzzer needs: connect, publish with headers, and a PING/PONG round trip that
proves the server has routed everything sent before it.
"""

from __future__ import annotations

import json
import random
from urllib.parse import urlsplit

import trio

__all__ = ["RawNats", "header_block"]


class RawNats:
    """One TCP connection to a nats-server, no client library in between."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    @classmethod
    async def connect(cls, url: str) -> RawNats:
        parts = urlsplit(url.split(",")[0])
        stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 4222)
        raw = cls(stream)
        info = await raw._line()
        if not info.startswith(b"INFO "):
            raise ConnectionError(f"not a NATS server: {info[:80]!r}")
        options = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1}
        await stream.send_all(b"CONNECT " + json.dumps(options).encode() + b"\r\n")
        await raw.ping()
        return raw

    async def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = await self._stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("the NATS server closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    async def ping(self) -> None:
        """Return once the server has processed (and routed) everything sent before."""
        await self._stream.send_all(b"PING\r\n")
        while True:
            line = await self._line()
            if line == b"PONG":
                return
            if line == b"PING":
                await self._stream.send_all(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise ConnectionError(line.decode(errors="replace"))

    async def hpub(self, subject: str, headers: bytes, payload: bytes, reply: str | None) -> None:
        head = f"HPUB {subject} {reply + ' ' if reply else ''}{len(headers)} "
        total = len(headers) + len(payload)
        await self._stream.send_all(head.encode() + f"{total}\r\n".encode() + headers + payload)
        await self._stream.send_all(b"\r\n")

    async def aclose(self) -> None:
        await self._stream.aclose()


def header_block(rng: random.Random) -> bytes:
    """A header block: huge, empty, a forged status, or garbage after the version line."""
    choice = rng.randrange(5)
    if choice == 0:
        return b"NATS/1.0\r\nX-Fuzz: " + b"h" * rng.choice([1_000, 30_000, 60_000]) + b"\r\n\r\n"
    if choice == 1:
        return b"NATS/1.0\r\n\r\n"
    if choice == 2:  # the server's no-responders / timeout status, forged by a peer
        return rng.choice([b"NATS/1.0 503\r\n\r\n", b"NATS/1.0 408 Request Timeout\r\n\r\n"])
    if choice == 3:
        lines = b"".join(b"K%d: %d\r\n" % (i, i) for i in range(rng.randrange(1, 500)))
        return b"NATS/1.0\r\n" + lines + b"\r\n"
    return (
        b"NATS/1.0\r\n" + rng.randbytes(rng.randrange(1, 200)).replace(b"\r\n", b"..") + b"\r\n\r\n"
    )
