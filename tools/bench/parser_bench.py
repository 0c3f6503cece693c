"""Parser cost: actorbus's pure NATS parser against nats-py's ``nats.protocol.parser``.

``python -m tools.bench.parser_bench [--messages N] [--chunk BYTES] [--repeat R]`` parses the
same stream of ``MSG`` (and, with ``--headers``, ``HMSG``) frames of 100 B payloads, fed in
chunks as a socket would deliver them, and prints ns per message for each (median of R runs).
nats-py's parser is a coroutine that awaits its client's callbacks; here those callbacks never
suspend, so it is driven inline (``send(None)``) as a Trio-side reader would have to, with no
asyncio loop. Importing ``nats`` loads asyncio, one reason the native client does not use it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

PAYLOAD = b"x" * 100


def stream(messages: int, headers: bool) -> bytes:
    if headers:
        hdr = b"NATS/1.0\r\nK: v\r\n\r\n"
        one = b"HMSG bench.subject.x 1 reply.inbox.1 %d %d\r\n%s%s\r\n" % (
            len(hdr),
            len(hdr) + len(PAYLOAD),
            hdr,
            PAYLOAD,
        )
    else:
        one = b"MSG bench.subject.x 1 reply.inbox.1 %d\r\n%s\r\n" % (len(PAYLOAD), PAYLOAD)
    return one * messages


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_native(pieces: list[bytes]) -> int:
    from actorbus._transport.natsproto import Msg, Parser

    parser = Parser()
    count = 0
    for piece in pieces:
        for event in parser.feed(piece):
            if type(event) is Msg:
                count += 1
    return count


class _Client:
    """What nats-py's parser calls back; nothing suspends."""

    def __init__(self) -> None:
        self.count = 0
        self._ps: Any = None

    async def _process_msg(self, *args: Any) -> None:
        self.count += 1

    async def _process_ping(self) -> None: ...

    async def _process_pong(self) -> None: ...

    async def _process_info(self, info: Any) -> None: ...

    async def _process_err(self, err: Any) -> None: ...

    async def _process_op_err(self, err: Any) -> None: ...


def run_natspy(pieces: list[bytes]) -> int:
    from nats.protocol.parser import Parser

    client = _Client()
    parser = Parser(client)
    for piece in pieces:
        coro = parser.parse(piece)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - would mean a callback suspended
            raise RuntimeError("nats-py's parser suspended")
    return client.count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--headers", action="store_true")
    args = parser.parse_args()
    pieces = chunks(stream(args.messages, args.headers), args.chunk)
    results: dict[str, list[float]] = {"native": [], "nats-py": []}
    for _ in range(args.repeat):
        for name, fn in (("native", run_native), ("nats-py", run_natspy)):
            start = time.perf_counter()
            count = fn(pieces)
            elapsed = time.perf_counter() - start
            assert count == args.messages, (name, count)
            results[name].append(elapsed / args.messages * 1e9)
    native = statistics.median(results["native"])
    natspy = statistics.median(results["nats-py"])
    kind = "HMSG" if args.headers else "MSG"
    print(f"{kind} x{args.messages}, {args.chunk} B chunks, median of {args.repeat}:")
    print(f"  native parser   {native:8.0f} ns/message")
    print(f"  nats-py parser  {natspy:8.0f} ns/message  (native / nats-py = {native / natspy:.2f})")


if __name__ == "__main__":
    main()
