"""Shared by every benchmark process: constants, the line protocol and small statistics.

Pure standard library: safe to import from the raw nats-py process.

The orchestrator drives each worker process through its stdin/stdout: one JSON command per
line in, and for each command one ``RESULT <json>`` line out. A worker prints ``READY`` once it
can take commands. Anything else a worker prints (or logs to stderr) is ignored.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

#: Request and reply size of every bench, in bytes.
PAYLOAD_SIZE = 100
PAYLOAD = bytes(range(PAYLOAD_SIZE))
#: Calls in flight in the pipelined bench.
PIPELINE_DEPTH = 64
#: Fan-out sizes of the gather bench.
GATHER_SIZES = (1, 10, 100)
#: Bound on one call or gather; a bench that hits it reports a timeout instead of hanging.
CALL_TIMEOUT = 10.0

RAW_ECHO_SUBJECT = "bench.raw.echo"
#: Subject of the raw side's publish-only events bench.
RAW_EVENT_SUBJECT = "bench.raw.events"


class EventCounter:
    """Counts events received by a responder, with the monotonic times of the first and last
    (``time.monotonic`` is system-wide on Linux, but only this process's clock is used)."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.first = self.last = 0.0

    def hit(self) -> bool:
        """Count one event; True when this one reaches the target."""
        now = time.monotonic()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        return self.count == self.target

    def result(self) -> dict[str, Any]:
        span = self.last - self.first
        rate = (self.count - 1) / span if self.count > 1 and span > 0 else 0.0
        return {"received": self.count, "rate": rate}


def raw_gather_subject(n: int) -> str:
    return f"bench.raw.gather{n}"


def ready() -> None:
    print("READY", flush=True)


def emit(result: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def read_command() -> dict[str, Any] | None:
    """The next command from stdin (blocking); None at end of input or on ``quit``."""
    while True:
        line = sys.stdin.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            continue
        command: dict[str, Any] = json.loads(line)
        if command.get("cmd") == "quit":
            return None
        return command


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarize(
    count: int, elapsed: float, latencies_ns: Sequence[int], errors: int = 0
) -> dict[str, Any]:
    """Rate and latency figures of one measured window (latencies in µs)."""
    lat_us = [ns / 1000 for ns in latencies_ns]
    return {
        "count": count,
        "elapsed_s": elapsed,
        "rate": count / elapsed if elapsed > 0 else 0.0,
        "p50_us": percentile(lat_us, 0.5),
        "p99_us": percentile(lat_us, 0.99),
        "errors": errors,
    }


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else float("nan")


def now_ns() -> int:
    return time.perf_counter_ns()


def cpu_seconds() -> float:
    """User + system CPU time of this process (getrusage), for CPU µs per operation."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
