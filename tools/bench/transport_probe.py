"""Probe: actorbus's two NATS transports against raw nats-py (plain asyncio).

Two benches, each between two connections of one process through an embedded nats-server:

- ``stream``: publish N messages of 100 B; rate = N / (time until the subscriber has all N).
- ``pingpong``: sequential request/reply over a reply-inbox subscription; round trips per second
  and p50 latency.

Implementations: ``raw`` (nats-py on asyncio, ``cb=`` subscriptions, run in its own process so
that trio_asyncio is never imported there), ``native`` (the Trio-native client, the default)
and ``natspy`` (the nats-py option through trio-asyncio).

Usage: ``python tools/bench/transport_probe.py [--messages N] [--rounds N] [--repeat R]``;
prints a table and one JSON line at the end.
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

PAYLOAD = b"x" * 100
YIELD_EVERY = 256


def _add_repo_to_path() -> None:
    """Use this checkout's actorbus unless one is importable already (installed, PYTHONPATH)."""
    if importlib.util.find_spec("actorbus") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


# -- raw nats-py (plain asyncio; never imports trio_asyncio) --------------------------------


def run_raw(url: str, messages: int, rounds: int) -> dict[str, float]:
    import asyncio

    import nats

    async def main() -> dict[str, float]:
        pub = await nats.connect(url)
        sub = await nats.connect(url)
        got = 0
        done = asyncio.Event()

        async def on_msg(msg: Any) -> None:
            nonlocal got
            got += 1
            if got == messages:
                done.set()

        await sub.subscribe("probe.stream", cb=on_msg)
        await sub.flush()
        start = time.perf_counter()
        for i in range(messages):
            await pub.publish("probe.stream", PAYLOAD)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 60)
        stream_rate = messages / (time.perf_counter() - start)

        async def echo(msg: Any) -> None:
            await sub.publish(msg.reply, msg.data)

        await sub.subscribe("probe.ping", cb=echo)
        answer: asyncio.Future[None] | None = None

        async def on_reply(msg: Any) -> None:
            if answer is not None and not answer.done():
                answer.set_result(None)

        await pub.subscribe("probe.inbox.*", cb=on_reply)
        await pub.flush()
        await sub.flush()
        loop = asyncio.get_running_loop()
        lat: list[float] = []
        t0 = time.perf_counter()
        for i in range(rounds):
            answer = loop.create_future()
            s = time.perf_counter()
            await pub.publish("probe.ping", PAYLOAD, reply=f"probe.inbox.{i}")
            await asyncio.wait_for(answer, 5)
            lat.append(time.perf_counter() - s)
        rtt_rate = rounds / (time.perf_counter() - t0)
        await pub.close()
        await sub.close()
        return {
            "stream_msgs_s": stream_rate,
            "pingpong_s": rtt_rate,
            "pingpong_p50_us": statistics.median(lat) * 1e6,
        }

    return asyncio.run(main())


# -- actorbus NatsPyTransport ------------------------------------------------------------------


def run_actorbus(url: str, messages: int, rounds: int, client: str) -> dict[str, float]:
    import trio

    _add_repo_to_path()
    from actorbus._transport.base import Message

    if client == "native":
        from actorbus._transport.native import open_native as open_client
    else:
        from actorbus._transport.natspy import open_natspy as open_client

    async def main() -> dict[str, float]:
        async with open_client(url) as pub, open_client(url) as sub:
            got = 0
            done = trio.Event()

            def on_msg(msg: Message) -> None:
                nonlocal got
                got += 1
                if got == messages:
                    done.set()

            await sub.subscribe("probe.stream", on_msg)
            await sub.flush()
            start = time.perf_counter()
            for i in range(messages):
                pub.publish("probe.stream", PAYLOAD)
                if i % YIELD_EVERY == 0:
                    await trio.lowlevel.checkpoint()
            with trio.fail_after(60):
                await done.wait()
            stream_rate = messages / (time.perf_counter() - start)

            def echo(msg: Message) -> None:
                assert msg.reply is not None
                sub.publish(msg.reply, msg.data)

            await sub.subscribe("probe.ping", echo)
            answer = trio.Event()

            def on_reply(msg: Message) -> None:
                answer.set()

            await pub.subscribe("probe.inbox.*", on_reply)
            await pub.flush()
            await sub.flush()
            lat: list[float] = []
            t0 = time.perf_counter()
            for i in range(rounds):
                answer = trio.Event()
                s = time.perf_counter()
                pub.publish("probe.ping", PAYLOAD, reply=f"probe.inbox.{i}")
                with trio.fail_after(5):
                    await answer.wait()
                lat.append(time.perf_counter() - s)
            rtt_rate = rounds / (time.perf_counter() - t0)
            return {
                "stream_msgs_s": stream_rate,
                "pingpong_s": rtt_rate,
                "pingpong_p50_us": statistics.median(lat) * 1e6,
            }

    result: dict[str, float] = trio.run(main)
    return result


# -- driver ----------------------------------------------------------------------------------


def child(impl: str, url: str, messages: int, rounds: int) -> None:
    if impl == "raw":
        result = run_raw(url, messages, rounds)
    else:
        result = run_actorbus(url, messages, rounds, impl)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.messages, args.rounds)
        return

    _add_repo_to_path()
    from actorbus._transport.embedded import EmbeddedServer

    impls = ["raw", "native", "natspy"]
    runs: dict[str, list[dict[str, float]]] = {impl: [] for impl in impls}
    with EmbeddedServer() as server:
        for rep in range(args.repeat):
            order = impls[rep % len(impls) :] + impls[: rep % len(impls)]
            for impl in order:
                out = subprocess.run(
                    [
                        *(sys.executable, __file__, "--child", impl, "--url", server.url),
                        *("--messages", str(args.messages), "--rounds", str(args.rounds)),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                runs[impl].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary: dict[str, dict[str, float]] = {}
    for impl, results in runs.items():
        summary[impl] = {k: statistics.median(r[k] for r in results) for k in results[0]}
    raw = summary["raw"]
    print(
        f"{'impl':<12} {'stream msgs/s':>14} {'pingpong/s':>11} {'p50 µs':>8}   vs raw (stream, pp)"
    )
    for impl, s in summary.items():
        print(
            f"{impl:<12} {s['stream_msgs_s']:>14,.0f} {s['pingpong_s']:>11,.0f} "
            f"{s['pingpong_p50_us']:>8,.0f}   "
            f"{s['stream_msgs_s'] / raw['stream_msgs_s']:.2f}, "
            f"{s['pingpong_s'] / raw['pingpong_s']:.2f}"
        )
    print(json.dumps({"messages": args.messages, "rounds": args.rounds, "median": summary}))


if __name__ == "__main__":
    main()
