"""The actorbus side of the scale benches (``python -m tools.bench.scale_side ROLE ...``).

- ``sinks --sizes N --shard I/S``: the sink hosts ``i`` of the gather-to-N bench with
  ``i % S == I`` (so N sink hosts can be spread over S processes).
- ``first --sizes N``: a fresh process that starts an App with the source of the gather-to-N
  bench and times its very first gather; prints one RESULT and exits.
- ``actors --count N``: starts N actors (distinct hostnames) in one App; prints the start-up time,
  the RSS they added, and the p50 of calls to one of them from a second App in the process.
"""

from __future__ import annotations

import argparse
import functools
import resource
import secrets
import time
from typing import Any

import trio

from actorbus import Actor, App, endpoint

from .actorbus_side import gather_op, measure, next_command, sink_classes, source_class
from .common import PAYLOAD, emit, ready


def rss_kb() -> int:
    """Resident set size of this process now, in KiB (from /proc; getrusage gives the peak)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def sinks(url: str, plane: str, n: int, shard: int, shards: int) -> None:
    actors = [cls() for i, cls in enumerate(sink_classes(n)) if i % shards == shard]
    async with App(*actors, bus=url, plane=plane, hostname=f"sinks{shard}.bench", grace=1.0):
        ready()
        while await next_command() is not None:
            emit({"ok": True})


async def first(url: str, plane: str, n: int) -> None:
    source: Any = source_class(n)()
    t0 = time.perf_counter()
    async with App(source, bus=url, plane=plane, hostname="first.bench", grace=1.0):
        started = time.perf_counter()
        await gather_op(source, n)()
        done = time.perf_counter()
    emit({"start_ms": (started - t0) * 1000, "first_gather_ms": (done - started) * 1000})


@functools.cache
def many_classes(count: int) -> tuple[type[Actor], ...]:
    classes = []
    for i in range(count):

        async def echo(self: Actor, data: bytes) -> bytes:
            return data

        echo.__qualname__ = f"Many{i}.echo"
        namespace = {"hostname": f"a{i}.many.bench", "echo": endpoint(echo), "__module__": __name__}
        classes.append(type(f"Many{i}", (Actor,), namespace))
    return tuple(classes)


async def actors(url: str, plane: str, count: int, seconds: float) -> None:
    classes = many_classes(count)
    rss0 = rss_kb()
    t0 = time.perf_counter()
    async with App(*(cls() for cls in classes), bus=url, plane=plane, grace=1.0):
        start_s = time.perf_counter() - t0
        rss1 = rss_kb()
        async with App(bus=url, plane=plane, hostname="caller.many.bench") as edge:
            target = edge.client(classes[count // 2])

            async def call() -> None:
                await target.echo(data=PAYLOAD)

            await measure(call, 0.2)
            calls = await measure(call, seconds)
    emit(
        {
            "start_s": start_s,
            "rss_kb_per_actor": (rss1 - rss0) / count,
            "call_p50_us": calls["p50_us"],
            "call_errors": calls["errors"],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.scale_side")
    parser.add_argument("role", choices=["sinks", "first", "actors"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--plane", default="")
    parser.add_argument("--sizes", type=int, default=10)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    plane = args.plane or "bench" + secrets.token_hex(4)
    shard, shards = (int(x) for x in args.shard.split("/"))
    if args.role == "sinks":
        trio.run(sinks, args.url, plane, args.sizes, shard, shards)
    elif args.role == "first":
        trio.run(first, args.url, plane, args.sizes)
    else:
        trio.run(actors, args.url, plane, args.count, args.seconds)


if __name__ == "__main__":
    main()
