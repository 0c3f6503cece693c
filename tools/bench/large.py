"""``python -m tools.bench.large [--quick | --smoke]``: a 10 MiB request and its 10 MiB reply
across processes, on a nats-server with ``max_payload: 1MB`` (so both go in pieces), against
raw nats-py sending the same bytes as ``max_payload``-sized chunks to one subscriber, which
sends them back the same way.

Processes: an embedded nats-server; per implementation a responder and a client (each its own
process, so each side's peak RSS is its own). The client times ``rounds`` round trips after a
warm-up; MB/s (the median round) counts both directions (10^6 bytes). Repetitions interleave
the implementations; ratios are per repetition, figures medians over repetitions. Prints a
table, then one JSON line: ``large_ratio`` (actorbus MB/s ÷ raw MB/s, target >= 0.8), the
MB/s of each implementation (``natspy`` is actorbus on the nats-py option) and the peak RSS
of both sides in MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

from actorbus import Actor, App, endpoint
from actorbus._transport.embedded import EmbeddedServer

from .common import median

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
SIZE = 10 * MIB
MAX_PAYLOAD = MIB
HOST = "bench-large.example"
TARGET = 0.8
START_TIMEOUT = 60.0
_HEADER = 8  # raw chunks: index and count, 4 bytes each


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _result(figures: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(figures), flush=True)


# -- actorbus ---------------------------------------------------------------------------------


class LargeEcho(Actor):
    hostname = HOST

    def __init__(self, total: int) -> None:
        super().__init__()
        self.left = total
        self.done = trio.Event()

    @endpoint
    async def echo(self, data: bytes) -> bytes:
        self.left -= 1
        if self.left <= 0:
            self.done.set()
        return data


async def actorbus_responder(url: str, plane: str, total: int) -> None:
    echo = LargeEcho(total)
    async with App(echo, bus=url, plane=plane, max_body=2 * SIZE):
        print("READY", flush=True)
        await echo.done.wait()
    _result({"rss_mib": _rss_mib()})


async def actorbus_client(url: str, plane: str, rounds: int, warmup: int) -> None:
    data = os.urandom(SIZE)
    async with App(bus=url, plane=plane, hostname="bench.actorbus", max_body=2 * SIZE) as app:
        echo = app.client(LargeEcho)
        times = []
        for i in range(warmup + rounds):
            t0 = time.perf_counter()
            out = await echo.echo(data=data)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
            if len(out) != SIZE:
                raise RuntimeError(f"a reply of {len(out)} bytes")
    _result({"seconds": times, "rss_mib": _rss_mib()})


# -- raw nats-py ------------------------------------------------------------------------------


def _chunks(data: bytes) -> list[bytes]:
    step = MAX_PAYLOAD - _HEADER
    count = -(-len(data) // step)
    head = count.to_bytes(4, "big")
    return [i.to_bytes(4, "big") + head + data[i * step : (i + 1) * step] for i in range(count)]


class _Collector:
    """Chunks of one message, by index; done when every index arrived."""

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.count = -1

    def add(self, payload: bytes) -> bytes | None:
        self.parts[int.from_bytes(payload[:4], "big")] = payload[_HEADER:]
        self.count = int.from_bytes(payload[4:8], "big")
        if len(self.parts) < self.count:
            return None
        whole = b"".join(self.parts[i] for i in range(self.count))
        self.parts.clear()
        return whole


async def raw_responder(url: str, plane: str, total: int) -> None:
    import nats

    nc = await nats.connect(url)
    done = asyncio.Event()
    left = total
    collectors: dict[str, _Collector] = {}

    async def on_chunk(msg: Any) -> None:
        nonlocal left
        whole = collectors.setdefault(msg.reply, _Collector()).add(msg.data)
        if whole is None:
            return
        for chunk in _chunks(whole):  # the same bytes back, the same way
            await nc.publish(msg.reply, chunk)
        await nc.flush()
        left -= 1
        if left <= 0:
            done.set()

    await nc.subscribe(f"{plane}.large", cb=on_chunk)
    await nc.flush()
    print("READY", flush=True)
    await done.wait()
    await nc.drain()
    _result({"rss_mib": _rss_mib()})


async def raw_client(url: str, plane: str, rounds: int, warmup: int) -> None:
    import nats

    nc = await nats.connect(url)
    inbox = nc.new_inbox()
    collector = _Collector()
    arrived: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_chunk(msg: Any) -> None:
        whole = collector.add(msg.data)
        if whole is not None:
            arrived.put_nowait(whole)

    await nc.subscribe(inbox, cb=on_chunk)
    data = os.urandom(SIZE)
    times = []
    for i in range(warmup + rounds):
        t0 = time.perf_counter()
        for chunk in _chunks(data):
            await nc.publish(f"{plane}.large", chunk, reply=inbox)
        await nc.flush()
        out = await arrived.get()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        if len(out) != SIZE:
            raise RuntimeError(f"a reply of {len(out)} bytes")
    await nc.drain()
    _result({"seconds": times, "rss_mib": _rss_mib()})


# -- orchestration ----------------------------------------------------------------------------


def _spawn(role: str, url: str, plane: str, extra: list[str], client: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTORBUS_NATS_CLIENT": client}
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "tools.bench.large", "--role", role, url, plane, *extra],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env=env,
        text=True,
    )


def _line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT * 4
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a bench process exited ({proc.wait()}) before {prefix}")
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise RuntimeError(f"no {prefix} line in time")


def run_pair(impl: str, url: str, rounds: int, warmup: int) -> dict[str, Any]:
    """One implementation: responder and client; MB/s (median round) and both peak RSS."""
    side = "raw" if impl == "raw" else "actorbus"
    client = "nats-py" if impl == "natspy" else "native"
    plane = f"large{impl}{os.getpid()}"
    total = str(rounds + warmup)
    responder = _spawn(f"{side}-responder", url, plane, [total], client)
    try:
        _line(responder, "READY")
        caller = _spawn(f"{side}-client", url, plane, [str(rounds), str(warmup)], client)
        out = json.loads(_line(caller, "RESULT "))
        caller.wait(timeout=60)
        served = json.loads(_line(responder, "RESULT "))
        responder.wait(timeout=60)
    finally:
        for proc in (responder,):
            if proc.poll() is None:
                proc.kill()
    seconds = median(out["seconds"])
    return {
        "mb_s": round(2 * SIZE / seconds / 1e6, 1),
        "client_rss_mib": out["rss_mib"],
        "responder_rss_mib": served["rss_mib"],
    }


def measure(reps: int, rounds: int, warmup: int, impls: tuple[str, ...]) -> dict[str, Any]:
    """Each repetition runs every implementation back to back (the order rotating); a ratio
    is taken per repetition against the raw run next to it; every figure is the median."""
    server = EmbeddedServer("127.0.0.1", 0, max_payload=MAX_PAYLOAD)
    server.start()
    runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    try:
        for rep in range(reps):
            order = impls[rep % len(impls) :] + impls[: rep % len(impls)]
            for impl in order:
                runs[impl].append(run_pair(impl, server.url, rounds, warmup))
    finally:
        server.stop()
    figures: dict[str, Any] = {
        "reps": reps,
        "rounds": rounds,
        "size_mib": SIZE // MIB,
        "max_payload": MAX_PAYLOAD,
    }
    for impl, results in runs.items():
        for key in results[0]:
            figures[f"{impl}_large_{key}"] = median([r[key] for r in results])
    for impl in impls[1:]:
        ratios = [a["mb_s"] / r["mb_s"] for a, r in zip(runs[impl], runs["raw"], strict=True)]
        name = "large_ratio" if impl == "actorbus" else f"{impl}_large_ratio"
        figures[name] = round(median(ratios), 3)
    figures["target"] = TARGET
    figures["meets"] = figures["large_ratio"] >= TARGET
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.large", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--smoke", action="store_true", help="two rounds: shape, not speed")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        url, plane, *numbers = args.rest
        n = [int(x) for x in numbers]
        if args.role == "actorbus-responder":
            trio.run(actorbus_responder, url, plane, n[0])
        elif args.role == "actorbus-client":
            trio.run(actorbus_client, url, plane, n[0], n[1])
        elif args.role == "raw-responder":
            asyncio.run(raw_responder(url, plane, n[0]))
        else:
            asyncio.run(raw_client(url, plane, n[0], n[1]))
        return 0
    reps, rounds, warmup = (1, 2, 1) if args.smoke else (3, 5, 2) if args.quick else (5, 10, 2)
    impls = ("raw", "actorbus") if args.smoke else ("raw", "actorbus", "natspy")
    figures = measure(reps, rounds, warmup, impls)
    figures["quick"], figures["smoke"] = bool(args.quick), bool(args.smoke)
    for key, value in figures.items():
        if key.endswith(("_mb_s", "_rss_mib", "_ratio")):
            print(f"{key:<32} {value:>10}")
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
