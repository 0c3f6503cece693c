"""janitor.example's singleton ticker run by ``actorbus run`` in the SIGKILL case: it prints
each beat it ran."""

from __future__ import annotations

from actorbus import Actor, ticker


class Janitor(Actor):
    hostname = "janitor.example"

    @ticker(seconds=0.25, singleton=True)
    async def sweep(self) -> None:
        print(f"BEAT {self.instance}", flush=True)
