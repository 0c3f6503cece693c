"""A handler that blocks Trio's scheduler is named in one log line (issue 25, item 5)."""

from __future__ import annotations

import inspect
import logging
import threading
import time

import trio
import trio.lowlevel

from actorbus import Actor, App, endpoint

logged = threading.Event()


class Blocker(Actor):
    hostname = "blocker.ops.test"

    @endpoint
    async def stall(self) -> str:
        # Blocks the Trio thread (the mistake under test) until the watchdog has spoken.
        logged.wait(timeout=30)
        return "done"

    @endpoint
    async def fine(self) -> str:
        await trio.lowlevel.checkpoint()
        return "ok"


class _Catch(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        logged.set()


async def test_a_blocking_async_handler_is_named_once() -> None:
    catch = _Catch()
    logger = logging.getLogger("actorbus.watchdog")
    logger.addHandler(catch)
    logged.clear()
    try:
        async with App(Blocker(), block_warning=0.2) as app:
            started = time.monotonic()
            assert await app.client(Blocker).stall() == "done"
            assert time.monotonic() - started < 30, "the watchdog never spoke"
            assert await app.client(Blocker).fine() == "ok"
    finally:
        logger.removeHandler(catch)
    assert len(catch.lines) == 1, catch.lines
    line = catch.lines[0]
    assert line.startswith("blocker.ops.test: handler stall (an async def) has blocked")
    lines, first = inspect.getsourcelines(Blocker.stall)
    blocking = first + next(i for i, text in enumerate(lines) if "logged.wait" in text)
    assert f"test_watchdog.py:{blocking}" in line
    assert "plain def" in line and "trio.to_thread.run_sync" in line


async def test_no_line_while_handlers_behave() -> None:
    catch = _Catch()
    logger = logging.getLogger("actorbus.watchdog")
    logger.addHandler(catch)
    try:
        async with App(Blocker(), block_warning=0.2) as app:
            for _ in range(20):
                assert await app.client(Blocker).fine() == "ok"
    finally:
        logger.removeHandler(catch)
    assert catch.lines == []
