"""Drive the generators at a live actor and check it after each batch.

After every batch: the actor still answers a correct call, it is idle again (no call running
or waiting), the process's Trio task count is back to its idle value, and nothing the peer sent
has been kept (pending calls, owed acks, waiting lines). Shared by the fuzz tests and
``python -m tools.fuzz``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import trio
import trio.testing

from actorbus import Actor, App, Overloaded, endpoint, event, sink
from actorbus._transport.base import Transport

from .generators import Route, Shot, Target
from .rawnats import RawNats, header_block

__all__ = [
    "FuzzSource",
    "FuzzTarget",
    "Report",
    "batch_of",
    "count_tasks",
    "fire",
    "fire_raw",
    "leftovers",
    "rss_bytes",
    "settle",
    "target_of",
]


class FuzzSource(Actor):
    """Fires the event that `FuzzTarget` sinks."""

    hostname = "fuzz-source.test"

    @event
    async def on_poke(self, n: int) -> int: ...


class FuzzTarget(Actor):
    """The actor under attack: a fast endpoint and a sink, small bounds."""

    hostname = "fuzz-target.test"
    max_concurrent = 8
    max_queued = 8

    @endpoint
    async def add(self, a: int, b: int = 1) -> int:
        await trio.lowlevel.checkpoint()
        return a + b

    @sink(FuzzSource.on_poke)
    async def poked(self, n: int) -> int:
        await trio.lowlevel.checkpoint()
        return n


def target_of(actor: FuzzTarget, plane: str, inbox: str) -> Target:
    args = msgspec.msgpack.encode({"a": 1})
    return Target(
        plane=plane,
        host=actor.host(),
        instance=actor.instance,
        endpoint=Route(actor.host(), 443, "POST", "/add", args),
        event=Route(FuzzSource.host(), 417, "POST", "/on-poke", msgspec.msgpack.encode({"n": 1})),
        inbox=inbox,
    )


WORKER_TASK = "Workers._work"


def count_tasks(*, workers: bool = True) -> int:
    """Every task of this Trio run, walked from the root through public introspection.

    ``workers=False`` leaves out handler workers: they outlive the calls they served (parked
    for the next one, within each handler's bound), so they are not a leak."""
    stack = [trio.lowlevel.current_root_task()]
    n = 0
    while stack:
        task = stack.pop()
        n += workers or not task.name.endswith(WORKER_TASK)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return n


def rss_bytes() -> int:
    """The process's resident set size now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def fire(transport: Transport, batch: Iterable[Shot]) -> int:
    """Publish a batch; returns how many messages went out."""
    n = 0
    for shot in batch:
        transport.publish(shot.subject, shot.data, reply=shot.reply)
        n += 1
    return n


async def fire_raw(raw: RawNats, batch: Iterable[Shot], rng: random.Random) -> int:
    """Publish a batch by hand, each message with a header block of some size or shape, and
    return once the server has routed them all (so a later call is ordered after them)."""
    n = 0
    for shot in batch:
        await raw.hpub(shot.subject, header_block(rng), shot.data, shot.reply)
        n += 1
    await raw.ping()
    return n


async def settle(attacker: App, actor: FuzzTarget) -> None:
    """Wait until the actor has handled everything sent so far, and prove it still answers.

    A correct call from the attacker's own connection is ordered after every earlier frame
    (the bus keeps one publisher's order), so once it is answered they were all delivered.
    """
    await attacker.transport.flush()
    while True:
        try:
            assert await attacker.client(FuzzTarget).add(a=1) == 2
            break
        except Overloaded:  # fuzzed requests fill the line: retry, as a client should
            await trio.sleep(0.01)
    server = actor._server
    assert server is not None
    await server.wait_idle()
    await trio.testing.wait_all_tasks_blocked()


def leftovers(actor: FuzzTarget) -> dict[str, int]:
    """What the actor still holds for peers; all zero when it kept nothing it should not."""
    server, caller = actor._server, actor._caller
    assert server is not None and caller is not None
    return {
        "in_flight": server.in_flight,
        "owed_acks": sum(1 for instance, _ in server._acks.owed if instance == server.instance),
        "waiting": sum(len(g.waiting) for g in server._gates.values()),
        "pending_calls": len(caller._pending),
        "running_past_bound": sum(max(0, g.running - g.limit) for g in server._gates.values()),
    }


@dataclass
class Report:
    """Figures of one fuzz run (printed as one JSON line by ``python -m tools.fuzz``)."""

    bus: str
    seed: int
    frames: int = 0
    batches: int = 0
    crashes: int = 0
    leaked_tasks: int = 0
    idle_tasks: int = 0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    still_answering: bool = False
    seconds: float = 0.0
    counted: dict[str, int] = field(default_factory=dict)


def batch_of(target: Target, rng: random.Random, size: int, kinds: tuple[str, ...]) -> list[Shot]:
    from .generators import shots

    out: list[Shot] = []
    while len(out) < size:
        out.extend(shots(rng.choice(kinds), target, rng))
    return out
