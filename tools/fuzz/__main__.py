"""``python -m tools.fuzz``: hostile frames at a live actor, then one JSON line of figures.

    python -m tools.fuzz                      # 100,000 frames on an embedded nats-server
    python -m tools.fuzz --frames 5000 --bus memory --seed 7

Every batch is checked (see `tools.fuzz.harness`): the actor still answers, its tasks are back
to idle. The JSON line has frames sent, crashes (the actor stopped, or its receive path hit a
bug), leaked tasks, RSS before and after, whether it still answers, what it counted, and how
many log lines the attack cost. On NATS every fifth batch is written by hand (`RawNats`), each
message with a header block that is huge, empty, a forged status, or garbage.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict

import trio

from actorbus import App, MemoryBus
from actorbus._transport.embedded import EmbeddedServer

from .generators import KINDS
from .harness import (
    FuzzTarget,
    Report,
    batch_of,
    count_tasks,
    fire,
    fire_raw,
    leftovers,
    rss_bytes,
    settle,
    target_of,
)
from .rawnats import RawNats


class _LineCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1


@asynccontextmanager
async def _bus(spec: str) -> AsyncIterator[str | MemoryBus]:
    if spec == "memory":
        yield MemoryBus()
    elif spec == "embedded":
        server = EmbeddedServer()
        await trio.to_thread.run_sync(server.start)
        try:
            yield server.url
        finally:
            await trio.to_thread.run_sync(server.stop)
    else:
        yield spec


async def run(frames: int, batch: int, bus_spec: str, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    report = Report(bus=bus_spec, seed=seed)
    lines = _LineCounter()
    logging.getLogger("actorbus").addHandler(lines)
    plane = f"fuzz{seed}x{random.Random().getrandbits(32):x}"
    target_actor = FuzzTarget()
    async with (
        _bus(bus_spec) as bus,
        App(target_actor, bus=bus, plane=plane) as served,
        # A generous ack window: a probe must not fail because a busy machine stalled.
        App(bus=bus, plane=plane, hostname="fuzzer.test", ack_window=10.0) as attacker,
    ):
        target = target_of(target_actor, plane, f"{plane}.r.test.fuzzer.~fuzz0000")
        with trio.fail_after(60):
            await settle(attacker, target_actor)
        report.idle_tasks = count_tasks()
        report.rss_before_mb = round(rss_bytes() / 2**20, 1)
        lines.lines = 0
        # On NATS, every fifth batch goes out by hand with odd header blocks (HPUB).
        raw = await RawNats.connect(bus) if isinstance(bus, str) else None
        start = time.perf_counter()
        while report.frames < frames:
            shots = batch_of(target, rng, min(batch, frames - report.frames), KINDS)
            if raw is not None and report.batches % 5 == 4:
                with trio.fail_after(120):
                    report.frames += await fire_raw(raw, shots, rng)
            else:
                report.frames += fire(attacker.transport, shots)
            report.batches += 1
            with trio.fail_after(120):
                await settle(attacker, target_actor)
            leaked = count_tasks() - report.idle_tasks
            report.leaked_tasks = max(report.leaked_tasks, leaked)
            if target_actor not in served.actors or target_actor._stopped.is_set():
                report.crashes += 1
                break
        report.seconds = round(time.perf_counter() - start, 1)
        report.rss_after_mb = round(rss_bytes() / 2**20, 1)
        with trio.fail_after(30):
            report.still_answering = await attacker.client(FuzzTarget).add(a=41) == 42
        if raw is not None:
            await raw.aclose()
        report.counted = dict(target_actor.stats.wire)
        report.crashes += report.counted.get("internal", 0)
        held = leftovers(target_actor)
    out = asdict(report)
    out["held_after"] = held
    out["log_lines"] = lines.lines
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz", description="hostile frames")
    parser.add_argument("--frames", type=int, default=100_000, help="frames to send (100000)")
    parser.add_argument("--batch", type=int, default=1000, help="frames between checks (1000)")
    parser.add_argument("--bus", default="embedded", help="embedded (default), memory or a URL")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = trio.run(run, args.frames, args.batch, args.bus, args.seed)
    print(json.dumps(result), flush=True)
    ok = not result["crashes"] and not result["leaked_tasks"] and result["still_answering"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
