"""Bench: what tracing costs on unicast throughput.

Modes, measured on the same pair of Apps (caller and callee in separate Apps, so every call
crosses the bus): ``off`` (tracing disabled on both hubs), ``idle`` (tracing on, no tracer
listening: the default state of a deployment) and ``ws`` (a tracer server with one websocket
client attached, reading every span). Modes alternate for ``--repeat`` rounds; the median of
each mode is reported.

Usage: ``python tools/bench/bench_trace.py [--bus embedded|memory|nats://…] [--calls N]
[--concurrency C] [--repeat R]``; prints a table and one JSON line at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _add_repo_to_path() -> None:
    if importlib.util.find_spec("actorbus") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


_add_repo_to_path()

import trio  # noqa: E402
import trio_websocket  # noqa: E402

from actorbus import Actor, App, endpoint  # noqa: E402
from actorbus._app import open_bus  # noqa: E402
from actorbus._tracer.websocket import TracerServer  # noqa: E402
from actorbus._transport.embedded import open_embedded  # noqa: E402
from actorbus._transport.memory import MemoryBus  # noqa: E402


class Echo(Actor):
    hostname = "echo.bench"

    @endpoint
    async def echo(self, n: int) -> int:
        return n


async def _rate(app: App, calls: int, concurrency: int) -> float:
    echo = app.client(Echo)
    per_task = calls // concurrency

    async def worker() -> None:
        for i in range(per_task):
            await echo.echo(n=i)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return per_task * concurrency / (time.perf_counter() - start)


async def _watch(bus: Any, plane: str, started: Any = None) -> int:
    """A tracer server with one websocket client reading every message, until cancelled
    (or, in the child process, until stdin closes); returns how many messages it read."""
    received = 0
    async with open_bus(bus) as transport, trio.open_nursery() as nursery:
        server: TracerServer = await nursery.start(
            TracerServer(transport, plane, queue_size=65536).serve, "127.0.0.1", 0
        )
        url = f"ws://127.0.0.1:{server.port}/ws"
        async with trio_websocket.open_websocket_url(url, message_queue_size=1024) as ws:

            async def read() -> None:
                nonlocal received
                while True:
                    await ws.get_message()
                    received += 1

            nursery.start_soon(read)
            if started is None:
                print("ready", flush=True)
                await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
            else:
                started()
                await trio.sleep_forever()
            nursery.cancel_scope.cancel()
    return received


async def _with_watcher(
    bus: Any, plane: str, apps: list[App], calls: int, concurrency: int
) -> tuple[float, int]:
    """The ``ws`` mode: on NATS, the tracer and its client run in a child process (as
    ``actorbus tracer`` would); on the memory bus they share this process."""
    if isinstance(bus, str):
        proc = await trio.lowlevel.open_process(
            [sys.executable, __file__, "--watch", bus, plane],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stdin is not None
        out = b""
        while b"ready" not in out:
            out += await proc.stdout.receive_some(100)
        for app in apps:
            await app.hub.spans.wait_listening()
        rate = await _rate(apps[1], calls, concurrency)
        await proc.stdin.aclose()
        while not out.endswith(b"\n") or out.count(b"\n") < 2:
            out += await proc.stdout.receive_some(100)
        await proc.wait()
        received = int(out.split()[-1])
    else:
        async with trio.open_nursery() as nursery:
            counted: list[int] = []

            async def run(task_status: Any) -> None:
                counted.append(await _watch(bus, plane, task_status.started))

            await nursery.start(run)
            for app in apps:
                await app.hub.spans.wait_listening()
            rate = await _rate(apps[1], calls, concurrency)
            nursery.cancel_scope.cancel()
        received = 0
    for app in apps:
        with trio.move_on_after(10):
            await app.hub.spans.wait_quiet()
    return rate, received


async def _bench(bus: Any, calls: int, concurrency: int, repeat: int) -> dict[str, Any]:
    plane = "bench" + str(int(time.time()))
    results: dict[str, list[float]] = {"off": [], "idle": [], "ws": []}
    received = 0
    async with (
        App(Echo(), bus=bus, plane=plane) as callee,
        App(bus=bus, plane=plane, hostname="caller.bench") as caller,
    ):
        apps = [callee, caller]
        await _rate(caller, min(calls, 2000), concurrency)  # warm up
        for _ in range(repeat):
            for mode in ("off", "idle", "ws"):
                for app in apps:
                    app.hub.spans.enable(mode != "off")
                if mode == "ws":
                    rate, got = await _with_watcher(bus, plane, apps, calls, concurrency)
                    received += got
                else:
                    rate = await _rate(caller, calls, concurrency)
                results[mode].append(rate)
                print(f"  {mode:5} {rate:10.0f} calls/s", file=sys.stderr)
    med = {mode: statistics.median(rates) for mode, rates in results.items()}
    return {
        "bench": "trace",
        "calls": calls,
        "concurrency": concurrency,
        "repeat": repeat,
        "off_calls_per_s": round(med["off"]),
        "idle_calls_per_s": round(med["idle"]),
        "ws_calls_per_s": round(med["ws"]),
        "idle_cost_pct": round(100 * (1 - med["idle"] / med["off"]), 2),
        "ws_cost_pct": round(100 * (1 - med["ws"] / med["off"]), 2),
        "ws_messages_received": received,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.bus == "embedded":
        async with open_embedded() as server:
            result = await _bench(server.url, args.calls, args.concurrency, args.repeat)
    elif args.bus == "memory":
        result = await _bench(MemoryBus(), args.calls, args.concurrency, args.repeat)
    else:
        result = await _bench(args.bus, args.calls, args.concurrency, args.repeat)
    result["bus"] = args.bus if "://" not in args.bus else "nats"
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--watch"]:
        print(trio.run(_watch, sys.argv[2], sys.argv[3]), flush=True)
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", default="embedded", help="embedded, memory or a nats:// URL")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    result = trio.run(main, parser.parse_args())
    print(json.dumps(result))
