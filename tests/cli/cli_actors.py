"""Actors that the CLI tests run in subprocesses with ``actorbus run``."""

from __future__ import annotations

import logging
import os

import trio

from actorbus import Actor, HTTPError, config, endpoint

log = logging.getLogger("cli_actors")


class Slow(Actor):
    """Answers slowly when asked to."""

    hostname = "slow.cli.test"
    version = "1.2.3"
    greeting: str = config("hello", doc="the greeting of /hello")
    times: int = config(1, doc="how often /hello repeats it")

    @endpoint
    async def hello(self, name: str = "world") -> str:
        log.info("hello called for %s", name)
        return ", ".join([f"{self.greeting} {name}"] * self.times)

    @endpoint
    async def nap(self, seconds: float = 0.5, tag: int = 0) -> int:
        log.info("nap %d started", tag)
        await trio.sleep(seconds)
        return tag

    @endpoint
    async def fail(self, status: int = 409) -> None:
        raise HTTPError(status, "refused on purpose")


class Flaky(Actor):
    """Fails ``on_startup`` as many times as $FLAKY_FAILURES says (counted in $FLAKY_FILE)."""

    hostname = "flaky.cli.test"

    async def on_startup(self) -> None:
        path = os.environ.get("FLAKY_FILE")
        if not path:
            return
        counter = trio.Path(path)
        tries = int(await counter.read_text()) if await counter.exists() else 0
        await counter.write_text(str(tries + 1))
        if tries < int(os.environ.get("FLAKY_FAILURES", "2")):
            raise RuntimeError(f"not yet (try {tries + 1})")

    @endpoint
    async def ok(self) -> bool:
        return True
