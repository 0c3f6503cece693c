"""``python -m tools.bench.durable [--quick | --smoke]``: durable event throughput, actorbus
against raw nats-py JetStream on the same nats-server, in the same run.

Each side runs in its own process with two connections, a publisher and a consumer:

- **actorbus**: a source fires events (fire and forget); one ``@sink(durable=True)`` host
  counts them from its JetStream consumer (pulled, acked one by one after the handler);
- **raw**: nats-py publishes the same size of message with a ``Nats-Msg-Id`` into a stream
  (no PubAck awaited, as an event), and a durable pull consumer fetches in batches and acks
  each message.

The rate is what the consumer handled per second, first to last receipt, after a warm-up of a
tenth. Repetitions alternate which side runs first; the ratio is taken per repetition and the
figure is the median. Prints a table, then one JSON line with ``durable_events_ratio``
(target >= 0.8).
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import time
from typing import Any

from actorbus._transport.embedded import EmbeddedServer

from .common import PAYLOAD_SIZE

MODES = {"full": (5, 20_000), "quick": (3, 5_000), "smoke": (1, 300)}
TARGET = 0.8
SIDE_TIMEOUT = 300.0
DATA = "x" * PAYLOAD_SIZE


def _actorbus_side(url: str, count: int) -> float:
    import trio

    from actorbus import Actor, App, event, sink

    class Source(Actor):
        hostname = "source.bench"

        @event
        async def on_item(self, data: str) -> None: ...

    class Counter(Actor):
        hostname = "counter.bench"
        target = 0
        seen = 0
        t0 = t1 = 0.0
        done = trio.Event()

        @sink(Source.on_item, durable=True)
        async def on_item(self, data: str) -> None:
            cls = Counter
            now = time.perf_counter()
            if cls.seen == 0:
                cls.t0 = now
            cls.seen += 1
            cls.t1 = now
            if cls.seen == cls.target:
                cls.done.set()

    async def run() -> float:
        plane = "bench" + secrets.token_hex(4)
        async with App(Counter(), bus=url, plane=plane), App(bus=url, plane=plane) as edge:
            source = await edge.add(Source())
            rate = 0.0
            for n in (max(count // 10, 10), count):
                Counter.target, Counter.seen, Counter.done = n, 0, trio.Event()
                for _ in range(n):
                    await source.on_item(data=DATA)
                with trio.fail_after(SIDE_TIMEOUT / 2):
                    await Counter.done.wait()
                rate = (n - 1) / max(Counter.t1 - Counter.t0, 1e-9)
            return rate

    return trio.run(run)


def _raw_side(url: str, count: int) -> float:
    import asyncio

    import nats

    async def run() -> float:
        pub, sub = await nats.connect(url), await nats.connect(url)
        js = sub.jetstream()
        name = "RAW" + secrets.token_hex(4)
        subject = f"{name}.events"
        await js.add_stream(name=name, subjects=[f"{name}.>"], no_ack=True)
        psub = await js.pull_subscribe(subject, durable="counter", stream=name)
        payload = json.dumps({"data": DATA}).encode()
        rate = 0.0
        for n in (max(count // 10, 10), count):
            for i in range(n):
                await pub.publish(subject, payload, headers={"Nats-Msg-Id": f"{n}.{i}"})
            seen, t0, t1 = 0, 0.0, 0.0
            while seen < n:
                try:
                    msgs = await psub.fetch(batch=100, timeout=5)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    now = time.perf_counter()
                    if seen == 0:
                        t0 = now
                    seen += 1
                    t1 = now
                    await msg.ack()
            rate = (n - 1) / max(t1 - t0, 1e-9)
        await pub.close()
        await sub.close()
        return rate

    return asyncio.run(run())


def _side(side: str, url: str, count: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.durable", "--side", side, "--url", url,
         "--count", str(count)],
        capture_output=True, text=True, timeout=SIDE_TIMEOUT, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{side} side failed: {proc.stderr.strip()[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def measure(mode: str) -> dict[str, Any]:
    reps, count = MODES[mode]
    rates: dict[str, list[float]] = {"actorbus": [], "raw": []}
    ratios: list[float] = []
    with EmbeddedServer() as server:
        for rep in range(reps):
            order = ("raw", "actorbus") if rep % 2 == 0 else ("actorbus", "raw")
            got = {side: _side(side, server.url, count) for side in order}
            for side, rate in got.items():
                rates[side].append(rate)
                print(f"  rep {rep + 1} {side:<8} {rate:>10,.0f} events/s", file=sys.stderr)
            ratios.append(got["actorbus"] / got["raw"])
    ratio = statistics.median(ratios)
    return {
        "mode": mode,
        "events": count,
        "reps": reps,
        "actorbus_durable_rate": round(statistics.median(rates["actorbus"])),
        "raw_durable_rate": round(statistics.median(rates["raw"])),
        "durable_events_ratio": round(ratio, 3),
        "meets": ratio >= TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.durable", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repetitions of 5,000 events")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: shape, not speed")
    parser.add_argument("--side", choices=("actorbus", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        run = _actorbus_side if args.side == "actorbus" else _raw_side
        print(run(args.url, args.count), flush=True)
        return 0
    figures = measure("smoke" if args.smoke else "quick" if args.quick else "full")
    for key in ("actorbus_durable_rate", "raw_durable_rate", "durable_events_ratio", "meets"):
        print(f"{key:<24} {figures[key]!s:>10}")
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
