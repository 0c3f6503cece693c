"""The scale benches of ``python -m tools.bench``: events at scale, many actors, workers.

- ``gather1000``: a gather to 1,000 sink hosts spread over 2 processes, actorbus against raw
  nats-py (same split, one queue group per sink host), ratio per repetition.
- ``first_gather_ms``: a fresh process starts an App with an event source and times its very
  first gather to 10 sink hosts that were already running (the ack window is 250 ms: a source
  that did not know its sinks would wait that long).
- ``actors1000``: 1,000 actors (hosts) in one App: start-up time, RSS per actor, and the p50 of
  a call to one of them from a second App in the same process (through NATS).
- ``workers2_speedup``: ``actorbus run --workers 2`` against ``--workers 1``: throughput of
  pipelined calls from an outside client process.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import median
from .runner import REPO, Worker, wait_ready

START_TIMEOUT = 120.0


@dataclass(frozen=True)
class ScaleMode:
    gather_n: int  # sink hosts of the big gather (1,000 in a real run)
    first_runs: int
    actors: int
    workers: bool  # run the --workers 1/2 comparison


SCALE_MODES = {
    "full": ScaleMode(1000, 7, 1000, True),
    "quick": ScaleMode(1000, 3, 1000, True),
    "smoke": ScaleMode(100, 1, 50, False),
}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _plane() -> str:
    return "bench" + secrets.token_hex(4)


def gather_sharded(
    url: str, n: int, shards: int, seconds: float, warmup: float, log_dir: Path, rep: int
) -> dict[str, dict[str, Any]]:
    """impl → figures of a gather to ``n`` sink hosts spread over ``shards`` processes."""
    out: dict[str, dict[str, Any]] = {}
    order = ("raw", "actorbus") if rep % 2 == 0 else ("actorbus", "raw")
    for impl in order:
        plane = _plane()
        module = "tools.bench.scale_raw" if impl == "raw" else "tools.bench.scale_side"
        extra = [] if impl == "raw" else ["--plane", plane]
        sinks = [
            Worker(
                f"r{rep}-{impl}-sinks{i}",
                module,
                ["sinks", "--url", url, "--sizes", str(n), "--shard", f"{i}/{shards}", *extra],
                log_dir,
            )
            for i in range(shards)
        ]
        client_module = "tools.bench.raw_nats" if impl == "raw" else "tools.bench.actorbus_side"
        client_args = ["client", "--url", url]
        if impl == "actorbus":
            client_args += ["--plane", plane, "--sizes", str(n)]
        client = Worker(f"r{rep}-{impl}-gather{n}-client", client_module, client_args, log_dir)
        try:
            wait_ready([*sinks, client], START_TIMEOUT)
            command = {"cmd": "gather", "n": n, "seconds": seconds, "warmup": warmup}
            out[impl] = client.request(command, seconds + warmup + 120)
            progress(
                f"  rep {rep + 1} gather{n}/{shards}p {impl:<8} {out[impl]['rate']:>9,.1f}/s "
                f"p50 {out[impl]['p50_us']:>10,.0f} µs  errors {out[impl]['errors']}"
            )
        finally:
            for worker in (client, *sinks):
                worker.close()
    return out


def first_gathers(url: str, n: int, runs: int, log_dir: Path) -> list[dict[str, float]]:
    plane = _plane()
    args = ["sinks", "--url", url, "--plane", plane, "--sizes", str(n), "--shard", "0/1"]
    results = []
    with Worker(f"first{n}-sinks", "tools.bench.scale_side", args, log_dir) as sinks:
        wait_ready([sinks], START_TIMEOUT)
        for run in range(runs):
            args = ["first", "--url", url, "--plane", plane, "--sizes", str(n)]
            with Worker(f"first{n}-{run}", "tools.bench.scale_side", args, log_dir) as first:
                result = json.loads(first.wait_for("RESULT ", START_TIMEOUT))
            results.append(result)
            progress(
                f"  first gather to {n}: {result['first_gather_ms']:.1f} ms "
                f"(App start {result['start_ms']:.0f} ms)"
            )
    return results


def many_actors(url: str, count: int, seconds: float, log_dir: Path) -> dict[str, Any]:
    args = ["actors", "--url", url, "--count", str(count), "--seconds", str(seconds)]
    with Worker(f"actors{count}", "tools.bench.scale_side", args, log_dir) as worker:
        result: dict[str, Any] = json.loads(worker.wait_for("RESULT ", START_TIMEOUT + 60))
    progress(
        f"  {count} actors: start {result['start_s']:.2f} s, "
        f"{result['rss_kb_per_actor']:.1f} KiB each, call p50 {result['call_p50_us']:,.0f} µs"
    )
    return result


def supervised_rate(url: str, workers: int, seconds: float, warmup: float, log_dir: Path) -> float:
    """Pipelined calls/s from an outside client to ``actorbus run --workers N``."""
    plane = _plane()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = (log_dir / f"run-workers{workers}.log").open("wb")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actorbus",
            "run",
            "tools.bench.actorbus_side:Echo",
            "--workers",
            str(workers),
            "--nats",
            url,
            "--plane",
            plane,
            "--grace",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=REPO,
        env=env,
        text=True,
    )
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if line.startswith("actorbus ready"):
                break
        else:
            raise RuntimeError(f"actorbus run --workers {workers} exited before it was ready")
        args = ["client", "--url", url, "--plane", plane]
        with Worker(f"workers{workers}-client", "tools.bench.actorbus_side", args, log_dir) as c:
            wait_ready([c], START_TIMEOUT)
            command = {"cmd": "pipelined", "seconds": seconds, "warmup": warmup}
            result = c.request(command, seconds + warmup + 60)
        progress(f"  actorbus run --workers {workers}: {result['rate']:,.0f} calls/s")
        return float(result["rate"])
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(30)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
        log.close()


SCALE_KEYS = (
    "gather1000_ratio",
    "raw_gather1000_rate",
    "actorbus_gather1000_rate",
    "first_gather_ms",
    "actors1000_start_s",
    "actors1000_rss_mb_per_actor",
    "actors1000_call_p50_us",
    "workers2_speedup",
)


def run_scale(
    url: str, mode_name: str, reps: int, seconds: float, warmup: float, log_dir: Path
) -> dict[str, Any]:
    """Every scale figure, as JSON keys (None where not measured in this mode)."""
    mode = SCALE_MODES[mode_name]
    out: dict[str, Any] = {}
    n = mode.gather_n
    ratios, raw_rates, ab_rates, errors = [], [], [], 0
    for rep in range(reps):
        progress(f"scale: gather to {n} sink hosts over 2 processes, rep {rep + 1}/{reps}")
        result = gather_sharded(url, n, 2, seconds, warmup, log_dir, rep)
        raw, ab = result["raw"], result["actorbus"]
        raw_rates.append(raw["rate"])
        ab_rates.append(ab["rate"])
        ratios.append(ab["rate"] / raw["rate"] if raw["rate"] else math.nan)
        errors += int(raw["errors"]) + int(ab["errors"])
    real = n == 1000
    out["gather1000_ratio"] = median(ratios) if real else None
    out["raw_gather1000_rate"] = median(raw_rates) if real else None
    out["actorbus_gather1000_rate"] = median(ab_rates) if real else None
    out["gather1000_errors"] = errors if real else None
    out[f"scale_gather{n}_ratio"] = median(ratios)

    progress("scale: first gather after a fresh start, to 10 sink hosts")
    firsts = first_gathers(url, 10, mode.first_runs, log_dir)
    out["first_gather_ms"] = median([f["first_gather_ms"] for f in firsts])
    out["first_gather_ms_max"] = max(f["first_gather_ms"] for f in firsts)
    out["app_start_ms"] = median([f["start_ms"] for f in firsts])

    progress(f"scale: {mode.actors} actors in one process")
    many = many_actors(url, mode.actors, seconds, log_dir)
    real = mode.actors == 1000
    out["actors1000_start_s"] = many["start_s"] if real else None
    out["actors1000_rss_mb_per_actor"] = many["rss_kb_per_actor"] / 1024 if real else None
    out["actors1000_call_p50_us"] = many["call_p50_us"] if real else None
    out[f"scale_actors{mode.actors}_start_s"] = many["start_s"]

    if mode.workers:
        progress("scale: actorbus run --workers 1 and --workers 2")
        one = supervised_rate(url, 1, seconds, warmup, log_dir)
        two = supervised_rate(url, 2, seconds, warmup, log_dir)
        out["workers1_rate"], out["workers2_rate"] = one, two
        out["workers2_speedup"] = two / one if one else None
    else:
        out["workers1_rate"] = out["workers2_rate"] = out["workers2_speedup"] = None
    return out
