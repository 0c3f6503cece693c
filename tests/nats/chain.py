"""A chain of actors A→B→C→D→E for the cancellation tests; run one per process:

    python -m tests.nats.chain NAME NATS_URL PLANE

Each prints ``ready`` when serving; E prints ``started`` when its handler begins and, when its
handler's ``finally`` runs, ``finally: cancelled`` (before its budget ended: the chain above
cancelled it) or ``finally: out of budget``.
"""

from __future__ import annotations

import sys

import trio

from actorbus import Actor, App, endpoint, event, sink


def say(word: str) -> None:
    print(word, flush=True)


def why_it_stopped(deadline: float) -> str:
    """Cancelled before the handler's budget ended, or by its end."""
    return "finally: cancelled" if trio.current_time() < deadline else "finally: out of budget"


class E(Actor):
    hostname = "e.chain"

    @endpoint
    async def work(self) -> str:
        say("started")
        deadline = trio.current_effective_deadline()
        try:
            await trio.sleep_forever()
        finally:
            say(why_it_stopped(deadline))
        return "never"


def _link(name: str, nxt: type[Actor]) -> type[Actor]:
    async def work(self: Actor) -> str:
        result: str = await self.client(nxt).work()
        return result

    work.__name__ = "work"
    return type(name, (Actor,), {"hostname": f"{name.lower()}.chain", "work": endpoint(work)})


D = _link("D", E)
C = _link("C", D)
B = _link("B", C)
A = _link("A", B)


class Source(Actor):
    hostname = "source.chain"

    @event
    async def on_job(self, n: int) -> int: ...


class Fast(Actor):
    hostname = "fast.chain"

    @sink(Source.on_job)
    async def job(self, n: int) -> int:
        return n


class Slow(Actor):
    hostname = "slow.chain"

    @sink(Source.on_job)
    async def job(self, n: int) -> int:
        say("started")
        deadline = trio.current_effective_deadline()
        try:
            await trio.sleep_forever()
        finally:
            say(why_it_stopped(deadline))
        return n


ACTORS: dict[str, type[Actor]] = {
    "A": A,
    "B": B,
    "C": C,
    "D": D,
    "E": E,
    "Fast": Fast,
    "Slow": Slow,
}


async def main(name: str, url: str, plane: str) -> None:
    async with App(ACTORS[name](), bus=url, plane=plane):
        say("ready")
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:4])
