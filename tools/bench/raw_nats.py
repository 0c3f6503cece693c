"""The raw nats-py side: plain asyncio, default event loop, in its own process.

Never import ``trio_asyncio`` or actorbus's NATS transport here: importing trio_asyncio patches
asyncio for the whole process and makes plain asyncio several times slower.

``python -m tools.bench.raw_nats responder --url URL --sizes 1,10,100`` serves an echo subject
and, for each size N, N subscriptions (one queue group each, like N sink hosts) on a gather
subject. ``python -m tools.bench.raw_nats client --url URL`` measures on command (see
`tools.bench.common` for the line protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from .common import (
    CALL_TIMEOUT,
    PAYLOAD,
    PIPELINE_DEPTH,
    RAW_ECHO_SUBJECT,
    RAW_EVENT_SUBJECT,
    EventCounter,
    cpu_seconds,
    emit,
    now_ns,
    raw_gather_subject,
    read_command,
    ready,
    summarize,
)

Op = Callable[[], Awaitable[None]]


async def next_command() -> dict[str, Any] | None:
    return await asyncio.get_running_loop().run_in_executor(None, read_command)


# -- responder -------------------------------------------------------------------------------


async def responder(url: str, sizes: list[int]) -> None:
    nc: Client = await nats.connect(url, name="bench-raw-responder")

    async def echo(msg: Msg) -> None:
        await nc.publish(msg.reply, msg.data)

    await nc.subscribe(RAW_ECHO_SUBJECT, cb=echo)
    counter = EventCounter()
    all_in = asyncio.Event()

    async def on_event(msg: Msg) -> None:
        if counter.hit():
            all_in.set()

    await nc.subscribe(RAW_EVENT_SUBJECT, queue="counter", cb=on_event)
    for n in sizes:
        for i in range(n):
            await nc.subscribe(raw_gather_subject(n), queue=f"sink{i}", cb=echo)
    await nc.flush()
    ready()
    while (command := await next_command()) is not None:
        if command["cmd"] == "cpu":
            emit({"cpu_s": cpu_seconds()})
        elif command["cmd"] == "events_reset":
            counter.reset(int(command["count"]))
            all_in.clear()
            emit({})
        elif command["cmd"] == "events_wait":
            try:
                async with asyncio.timeout(float(command["timeout"])):
                    await all_in.wait()
            except TimeoutError:
                pass  # reported as lost events
            emit(counter.result())
        else:
            emit({"error": f"unknown command {command['cmd']!r}"})
    await nc.drain()


# -- client ----------------------------------------------------------------------------------


async def measure(op: Op, seconds: float, depth: int = 1) -> dict[str, Any]:
    """Run ``op`` back to back in ``depth`` workers for ``seconds``; latency of each call."""
    latencies: list[int] = []
    errors = 0
    start = time.perf_counter()
    end = start + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < end:
            t0 = now_ns()
            try:
                await op()
            except (TimeoutError, nats.errors.Error):
                errors += 1
                continue
            latencies.append(now_ns() - t0)

    cpu0 = cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(depth)))
    elapsed = time.perf_counter() - start
    result = summarize(len(latencies), elapsed, latencies, errors)
    result["client_cpu_s"] = cpu_seconds() - cpu0
    return result


class RawClient:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self.pending: dict[str, tuple[list[int], asyncio.Future[None]]] = {}
        self.tokens = 0

    async def start(self) -> None:
        await self.nc.subscribe(self.prefix + ".*", cb=self.on_reply)
        await self.nc.flush()

    async def on_reply(self, msg: Msg) -> None:
        entry = self.pending.get(msg.subject[len(self.prefix) + 1 :])
        if entry is None:
            return
        left, future = entry
        left[0] -= 1
        if left[0] == 0 and not future.done():
            future.set_result(None)

    async def request(self) -> None:
        await self.nc.request(RAW_ECHO_SUBJECT, PAYLOAD, timeout=CALL_TIMEOUT)

    def gather_op(self, n: int) -> Op:
        subject = raw_gather_subject(n)
        loop = asyncio.get_running_loop()

        async def gather() -> None:
            self.tokens += 1
            token = f"{self.tokens:x}"
            future: asyncio.Future[None] = loop.create_future()
            self.pending[token] = ([n], future)
            try:
                await self.nc.publish(subject, PAYLOAD, reply=f"{self.prefix}.{token}")
                async with asyncio.timeout(CALL_TIMEOUT):
                    await future
            finally:
                del self.pending[token]

        return gather

    async def events(self, count: int) -> dict[str, Any]:
        """Publish ``count`` events as fast as nats-py takes them (publish-only)."""
        cpu0 = cpu_seconds()
        for _ in range(count):
            await self.nc.publish(RAW_EVENT_SUBJECT, PAYLOAD)
        await self.nc.flush()
        return {"sent": count, "client_cpu_s": cpu_seconds() - cpu0}

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        kind = command["cmd"]
        if kind == "events":
            return await self.events(int(command["count"]))
        seconds, warmup = float(command["seconds"]), float(command["warmup"])
        depth = 1
        if kind == "seq":
            op: Op = self.request
        elif kind == "pipelined":
            op, depth = self.request, PIPELINE_DEPTH
        elif kind == "gather":
            op = self.gather_op(int(command["n"]))
        else:
            return {"error": f"unknown command {kind!r}"}
        await measure(op, warmup, depth)
        return await measure(op, seconds, depth)


async def client(url: str) -> None:
    nc: Client = await nats.connect(url, name="bench-raw-client")
    raw = RawClient(nc)
    await raw.start()
    ready()
    while (command := await next_command()) is not None:
        emit(await raw.run(command))
    await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.raw_nats")
    parser.add_argument("role", choices=["client", "responder"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--sizes", default="", help="gather sizes served by the responder")
    args = parser.parse_args()
    if args.role == "responder":
        sizes = [int(s) for s in args.sizes.split(",") if s]
        asyncio.run(responder(args.url, sizes))
    else:
        asyncio.run(client(args.url))


if __name__ == "__main__":
    main()
