"""Profile the runtime's own cost per unicast call over NATS (both sides in one process).

``python -m tools.bench.profile_calls [--seconds S] [--depth N] [--client native|nats-py]``
starts an embedded nats-server, an App serving `Echo` and a second App calling it with ``N``
calls in flight (two Apps, so every call crosses the bus), runs for ``S`` seconds under
cProfile and prints calls/s and the functions with the most own time. Profiling slows
everything down; read the shares, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import trio

from actorbus import App
from actorbus._transport.embedded import open_embedded

from .actorbus_side import Echo
from .common import PAYLOAD


async def drive(seconds: float, depth: int, client: str, profiler: cProfile.Profile) -> int:
    async with open_embedded() as server:
        url = server.url
        async with (
            App(Echo(), bus=url, plane="prof", nats_client=client),
            App(bus=url, plane="prof", nats_client=client) as app,
        ):
            echo = app.client(Echo)
            await echo.echo(data=PAYLOAD)  # warm up: discovery, subscriptions
            done = 0

            async def caller(deadline: float) -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    await echo.echo(data=PAYLOAD)
                    done += 1

            profiler.enable()
            deadline = time.perf_counter() + seconds
            async with trio.open_nursery() as nursery:
                for _ in range(depth):
                    nursery.start_soon(caller, deadline)
            profiler.disable()
            return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--client", default="native", choices=["native", "nats-py"])
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    profiler = cProfile.Profile()
    calls = trio.run(drive, args.seconds, args.depth, args.client, profiler)
    print(f"{calls / args.seconds:,.0f} calls/s under the profiler ({args.client})")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
