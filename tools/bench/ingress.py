"""``python -m tools.bench.ingress [--calls N] [--smoke]``: one JSON call through the HTTP
ingress, against the same call straight on the bus and against a bare ASGI app on the same
HTTP server (hypercorn's Trio worker, the ingress's settings) answering the same JSON.

Processes: an embedded nats-server; ``actorbus run`` with the responder; ``actorbus ingress``;
the bare ASGI app; and this one, the client (a keep-alive h11 connection, one call at a time,
so each figure is a round trip). Prints a table, then one JSON line: ``ingress_p50_us``,
``ingress_vs_bus_ratio``, ``ingress_vs_asgi_ratio``, the p50s they come from, and whether
the ingress costs at most one bus call more than the bare app (``meets``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h11
import msgspec
import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer
from actorbus._wire.frames import encode_body

from .common import PAYLOAD_SIZE, percentile

REPO = Path(__file__).resolve().parents[2]
HOST = "bench-http.example"
DATA = "x" * PAYLOAD_SIZE
BODY = msgspec.json.encode({"data": DATA})
START_TIMEOUT = 60.0
_PORT = re.compile(rb"(?:HTTP ingress on http://|ASGI READY )127\.0\.0\.1:(\d+)")


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline: reads the JSON body and answers the value, as the endpoint would."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = msgspec.json.encode(msgspec.json.decode(body)["data"])
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})


async def serve_bare() -> None:
    from actorbus._ingress.options import IngressOptions
    from actorbus._ingress.serving import serve_asgi

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_asgi, bare_app, "127.0.0.1", 0, IngressOptions())
        print(f"ASGI READY 127.0.0.1:{port}", file=sys.stderr, flush=True)


class HttpClient:
    """Keep-alive HTTP/1.1 (h11), one request at a time; reconnects when the server closes
    (hypercorn ends a connection after ``keep_alive_max_requests``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stream: trio.SocketStream | None = None
        self.conn = h11.Connection(h11.CLIENT)

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()
            self.stream = None

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        if self.stream is None:
            self.stream = await trio.open_tcp_stream("127.0.0.1", self.port)
            self.conn = h11.Connection(h11.CLIENT)
        stream = self.stream
        headers = [("host", "bench"), ("content-length", str(len(body)))]
        data = self.conn.send(h11.Request(method="POST", target=target, headers=headers)) or b""
        data += (self.conn.send(h11.Data(data=body)) or b"") + (
            self.conn.send(h11.EndOfMessage()) or b""
        )
        await stream.send_all(data)
        status, chunks = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise RuntimeError("the server closed the connection")
        if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is h11.MUST_CLOSE:
            await self.aclose()  # the next call opens a new connection
        else:
            self.conn.start_next_cycle()
        return status, b"".join(chunks)


async def _timed_http(port: int, target: str, calls: int, warmup: int) -> list[float]:
    client = HttpClient(port)
    try:
        times = []
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            status, out = await client.post(target, BODY)
            elapsed = time.perf_counter() - t0
            if status != 200 or msgspec.json.decode(out) != DATA:
                raise RuntimeError(f"{target}: {status} {out[:200]!r}")
            if i >= warmup:
                times.append(elapsed)
        return times
    finally:
        await client.aclose()


async def _timed_bus(url: str, plane: str, calls: int, warmup: int) -> list[float]:
    async with App(bus=url, plane=plane, hostname="bench.actorbus") as app:
        body = encode_body({"data": DATA})
        times = []
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            out = await app.caller.call(HOST, 443, "POST", "/echo", body, msgspec.msgpack.decode)
            elapsed = time.perf_counter() - t0
            if out != DATA:
                raise RuntimeError(f"bus call: {out!r}")
            if i >= warmup:
                times.append(elapsed)
        return times


async def _start(argv: list[str], ready: re.Pattern[bytes]) -> tuple[trio.Process, int]:
    """Start a server process; wait for its ``ready`` line on stdout or stderr (group 1, when
    there is one, is the port it listens on)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("NATS_URL", None)
    proc = await trio.lowlevel.open_process(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, env=env
    )
    seen = b""
    assert proc.stdout is not None
    with trio.fail_after(START_TIMEOUT):
        while (found := ready.search(seen)) is None:
            chunk = await proc.stdout.receive_some(65536)
            if not chunk:
                raise RuntimeError(f"{argv[2:5]} exited: {seen.decode(errors='replace')[-2000:]}")
            seen += chunk
    return proc, int(found[1]) if found.groups() else 0


async def _drain(proc: trio.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.receive_some(65536):
        pass


async def measure(calls: int, warmup: int) -> dict[str, Any]:
    server = EmbeddedServer("127.0.0.1", 0)
    server.start()
    plane = f"benchhttp{os.getpid()}"
    py = [sys.executable, "-m"]
    procs: list[trio.Process] = []
    try:
        async with trio.open_nursery() as nursery:
            bus = ["--nats", server.url, "--plane", plane]
            actor, _ = await _start(
                [*py, "actorbus", "run", "tools/bench/ingress_actor.py", *bus, "--trace-ws", "off"],
                re.compile(rb"actorbus ready"),
            )
            procs.append(actor)
            ingress, ingress_port = await _start(
                [*py, "actorbus", "ingress", *bus, "--http", "127.0.0.1:0"], _PORT
            )
            procs.append(ingress)
            bare, bare_port = await _start([*py, "tools.bench.ingress", "--serve-bare"], _PORT)
            procs.append(bare)
            for proc in procs:
                nursery.start_soon(_drain, proc)
            bus_times = await _timed_bus(server.url, plane, calls, warmup)
            ingress_times = await _timed_http(ingress_port, f"/{HOST}/echo", calls, warmup)
            bare_times = await _timed_http(bare_port, "/", calls, warmup)
            nursery.cancel_scope.cancel()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            with trio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
        server.stop()
    bus_p50 = percentile(bus_times, 0.5) * 1e6
    ingress_p50 = percentile(ingress_times, 0.5) * 1e6
    bare_p50 = percentile(bare_times, 0.5) * 1e6
    return {
        "calls": calls,
        "ingress_p50_us": round(ingress_p50, 1),
        "ingress_p99_us": round(percentile(ingress_times, 0.99) * 1e6, 1),
        "bus_p50_us": round(bus_p50, 1),
        "asgi_p50_us": round(bare_p50, 1),
        "ingress_vs_bus_ratio": round(ingress_p50 / bus_p50, 3),
        "ingress_vs_asgi_ratio": round(ingress_p50 / bare_p50, 3),
        "ingress_extra_us": round(ingress_p50 - bare_p50, 1),
        "meets": ingress_p50 - bare_p50 <= bus_p50,  # at most one bus call more than bare
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.ingress", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per figure")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: shape, not speed")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        trio.run(serve_bare)
        return 0
    calls, warmup = (20, 5) if args.smoke else (args.calls, max(50, args.calls // 20))
    figures = trio.run(measure, calls, warmup)
    figures["smoke"] = bool(args.smoke)
    for key in ("bus_p50_us", "asgi_p50_us", "ingress_p50_us", "ingress_p99_us"):
        print(f"{key:<24} {figures[key]:>10.1f}")
    for key in ("ingress_vs_bus_ratio", "ingress_vs_asgi_ratio", "ingress_extra_us", "meets"):
        print(f"{key:<24} {figures[key]!s:>10}")
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
