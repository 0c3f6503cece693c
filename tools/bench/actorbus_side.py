"""The actorbus side: Trio processes running an `App` over NATS (nats-py via trio-asyncio).

Roles (``python -m tools.bench.actorbus_side ROLE --url URL ...``):

- ``responder``: an `Echo` actor and, for each gather size N, N sink hosts (classes made with
  ``type(...)``, hostnames ``sink<i>.n<N>.bench``) of the event ``src<N>.bench`` ``ev``.
- ``client``: the measuring side; an App with the event sources; unicast calls go from the
  App's edge to the `Echo` actor of the responder process (so never through the co-located
  shortcut). Commands as in `tools.bench.common`.
- ``colocated``: one process, `Echo` and a `Driver` actor in one App: sequential calls on NATS
  (the hub's local shortcut skips the bus) and on the memory bus. Prints one RESULT and exits.
- ``hop``: one link of the cancellation chain A→B→C→D→E (``--index 0..4``). E sleeps and
  prints ``STARTED <t>`` / ``FINALLY <t>`` (``time.monotonic()``, system-wide on Linux); A
  takes the commands ``call`` and ``cancel`` (which answers with the monotonic cancel time).
"""

from __future__ import annotations

import argparse
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from actorbus import Actor, App, Error, endpoint, event, sink

from .common import (
    PAYLOAD,
    PIPELINE_DEPTH,
    EventCounter,
    cpu_seconds,
    emit,
    now_ns,
    read_command,
    ready,
    summarize,
)

Op = Callable[[], Awaitable[None]]


async def next_command() -> dict[str, Any] | None:
    return await trio.to_thread.run_sync(read_command)


def fresh_plane() -> str:
    return "bench" + secrets.token_hex(4)


# -- actors ------------------------------------------------------------------------------------


class Echo(Actor):
    hostname = "echo.bench"

    @endpoint
    async def echo(self, data: bytes) -> bytes:
        return data


class Driver(Actor):
    """Calls `Echo` from inside the same App (the co-located bench)."""

    hostname = "driver.bench"


class Events(Actor):
    """Source of the publish-only bench: events fired and forgotten."""

    hostname = "events.bench"

    @event
    async def tick(self, data: bytes) -> None: ...


COUNTER = EventCounter()
#: Set when `COUNTER` reaches its target (replaced at each reset).
ALL_IN = [trio.Event()]


class Counter(Actor):
    """The one sink of `Events.tick`; counts what arrives."""

    hostname = "counter.bench"

    @sink(Events.tick)
    async def on_tick(self, data: bytes) -> None:
        if COUNTER.hit():
            ALL_IN[0].set()


@functools.cache
def source_class(n: int) -> type[Actor]:
    """The event source of the gather-to-``n`` bench (same class in every process)."""

    async def ev(self: Actor, data: bytes) -> bytes:
        raise NotImplementedError  # an event is fired on its source, never called

    return type(
        f"Source{n}",
        (Actor,),
        {"hostname": f"src{n}.bench", "ev": event(ev), "__module__": __name__},
    )


@functools.cache
def sink_classes(n: int) -> tuple[type[Actor], ...]:
    """``n`` sink hosts of ``source_class(n).ev``, one distinct hostname each."""
    source: Any = source_class(n)
    classes: list[type[Actor]] = []
    for i in range(n):

        async def handle(self: Actor, data: bytes) -> bytes:
            return data

        name = f"Sink{n}x{i}"
        handle.__qualname__ = f"{name}.handle"
        namespace = {
            "hostname": f"sink{i}.n{n}.bench",
            "handle": sink(source.ev)(handle),
            "__module__": __name__,
        }
        classes.append(type(name, (Actor,), namespace))
    return tuple(classes)


class Incomplete(Exception):
    """A gather that ended without every sink's reply."""


# -- measuring -------------------------------------------------------------------------------


async def measure(op: Op, seconds: float, depth: int = 1) -> dict[str, Any]:
    """Run ``op`` back to back in ``depth`` tasks for ``seconds``; latency of each call."""
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
            except (Error, Incomplete):
                errors += 1
                continue
            latencies.append(now_ns() - t0)

    cpu0 = cpu_seconds()
    async with trio.open_nursery() as nursery:
        for _ in range(depth):
            nursery.start_soon(worker)
    elapsed = time.perf_counter() - start
    result = summarize(len(latencies), elapsed, latencies, errors)
    result["client_cpu_s"] = cpu_seconds() - cpu0
    return result


def gather_op(source: Any, n: int) -> Op:
    async def gather() -> None:
        got = 0
        gathering = source.ev(data=PAYLOAD)
        async for reply in gathering:
            reply.value  # noqa: B018 - raises if the sink failed
            got += 1
        if got != n or not gathering.complete:
            raise Incomplete(f"{got} of {n} replies")

    return gather


async def client(url: str, plane: str, sizes: list[int]) -> None:
    sources = {n: source_class(n)() for n in sizes}
    events = Events()
    actors = [*sources.values(), events]
    async with App(*actors, bus=url, plane=plane, hostname="client.bench") as app:
        echo = app.client(Echo)

        async def call() -> None:
            await echo.echo(data=PAYLOAD)

        ready()
        while (command := await next_command()) is not None:
            kind = command["cmd"]
            if kind == "events":
                count = int(command["count"])
                cpu0 = cpu_seconds()
                for _ in range(count):
                    await events.tick(data=PAYLOAD)  # fire and forget
                await app.transport.flush()
                emit({"sent": count, "client_cpu_s": cpu_seconds() - cpu0})
                continue
            seconds, warmup = float(command["seconds"]), float(command["warmup"])
            depth = 1
            if kind == "seq":
                op: Op = call
            elif kind == "pipelined":
                op, depth = call, PIPELINE_DEPTH
            elif kind == "gather":
                n = int(command["n"])
                op = gather_op(sources[n], n)
            else:
                emit({"error": f"unknown command {kind!r}"})
                continue
            await measure(op, warmup, depth)
            emit(await measure(op, seconds, depth))


async def responder(url: str, plane: str, sizes: list[int]) -> None:
    actors: list[Actor] = [Echo(), Counter()]
    for n in sizes:
        actors += [cls() for cls in sink_classes(n)]
    async with App(*actors, bus=url, plane=plane, hostname="responder.bench", grace=1.0):
        ready()
        while (command := await next_command()) is not None:
            if command["cmd"] == "cpu":
                emit({"cpu_s": cpu_seconds()})
            elif command["cmd"] == "events_reset":
                COUNTER.reset(int(command["count"]))
                ALL_IN[0] = trio.Event()
                emit({})
            elif command["cmd"] == "events_wait":
                with trio.move_on_after(float(command["timeout"])):
                    await ALL_IN[0].wait()
                emit(COUNTER.result())
            else:
                emit({"error": f"unknown command {command['cmd']!r}"})


async def colocated(url: str, seconds: float, warmup: float) -> None:
    out: dict[str, Any] = {}
    for name, bus in (("colocated", url), ("memory", "memory")):
        driver = Driver()
        async with App(Echo(), driver, bus=bus, plane=fresh_plane(), grace=1.0):
            echo = driver.client(Echo)

            async def call(echo: Any = echo) -> None:
                await echo.echo(data=PAYLOAD)

            await measure(call, warmup)
            out[name] = await measure(call, seconds)
    emit(out)


# -- the cancellation chain A→B→C→D→E ---------------------------------------------------------


class HopE(Actor):
    hostname = "e.hop.bench"

    @endpoint
    async def relay(self) -> None:
        print(f"STARTED {time.monotonic()!r}", flush=True)
        try:
            await trio.sleep_forever()
        finally:
            print(f"FINALLY {time.monotonic()!r}", flush=True)


def _hop(letter: str, after: type[Actor]) -> type[Actor]:
    async def relay(self: Actor) -> None:
        await self.client(after).relay()

    relay.__qualname__ = f"Hop{letter.upper()}.relay"
    namespace = {
        "hostname": f"{letter}.hop.bench",
        "relay": endpoint(relay),
        "__module__": __name__,
    }
    return type(f"Hop{letter.upper()}", (Actor,), namespace)


HopD = _hop("d", HopE)
HopC = _hop("c", HopD)
HopB = _hop("b", HopC)
HopA = _hop("a", HopB)
HOPS: tuple[type[Actor], ...] = (HopA, HopB, HopC, HopD, HopE)


async def hop(url: str, plane: str, index: int) -> None:
    cls = HOPS[index]
    async with App(cls(), bus=url, plane=plane, hostname=f"hop{index}.bench", grace=1.0) as app:
        ready()
        if index != 0:
            while await next_command() is not None:
                pass
            return
        head = app.client(HopA)
        scope: trio.CancelScope | None = None
        async with trio.open_nursery() as nursery:

            async def call(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
                with trio.CancelScope() as cs:
                    task_status.started(cs)
                    await head.relay()

            while (command := await next_command()) is not None:
                if command["cmd"] == "call":
                    scope = await nursery.start(call)
                    emit({"ok": True})
                elif command["cmd"] == "cancel" and scope is not None:
                    t_cancel = time.monotonic()
                    scope.cancel()
                    emit({"t_cancel": t_cancel})
                else:
                    emit({"error": f"unexpected command {command!r}"})
            nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.actorbus_side")
    parser.add_argument("role", choices=["client", "responder", "colocated", "hop"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--plane", default="")
    parser.add_argument("--sizes", default="")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--warmup", type=float, default=0.3)
    args = parser.parse_args()
    plane = args.plane or fresh_plane()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.role == "client":
        trio.run(client, args.url, plane, sizes)
    elif args.role == "responder":
        trio.run(responder, args.url, plane, sizes)
    elif args.role == "colocated":
        trio.run(colocated, args.url, args.seconds, args.warmup)
    else:
        trio.run(hop, args.url, plane, args.index)


if __name__ == "__main__":
    main()
