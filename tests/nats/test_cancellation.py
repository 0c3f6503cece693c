"""Cancellation crosses the bus and OS processes: a whole call tree stops (issue 6)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from actorbus import App

from .chain import A, Source

pytestmark = [pytest.mark.nats, pytest.mark.slow, pytest.mark.usefixtures("any_nats_client")]


class Proc:
    """An actor process whose stdout lines we wait on (never sleep on)."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._buffer = b""
        self.lines: list[tuple[float, str]] = []

    async def expect(self, word: str) -> str:
        """Wait for the next line that is ``word`` or starts with ``word:``; returns it."""
        assert self.process.stdout is not None
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                text = line.decode().strip()
                self.lines.append((trio.current_time(), text))
                if text == word or text.startswith(word + ":"):
                    return text
            chunk = await self.process.stdout.receive_some()
            if not chunk:
                raise AssertionError(f"process exited before saying {word!r}: {self.lines}")
            self._buffer += chunk


@asynccontextmanager
async def actor_processes(names: list[str], url: str, plane: str) -> AsyncIterator[list[Proc]]:
    procs: list[Proc] = []
    try:
        for name in names:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "tests.nats.chain", name, url, plane],
                stdout=subprocess.PIPE,
            )
            procs.append(Proc(process))
        with trio.fail_after(30):
            for proc in procs:
                await proc.expect("ready")
        yield procs
    finally:
        with trio.CancelScope(shield=True):
            for proc in procs:
                proc.process.terminate()
            for proc in procs:
                with trio.move_on_after(10):
                    await proc.process.wait()
                if proc.process.returncode is None:
                    proc.process.kill()
                    await proc.process.wait()


async def test_cancelling_at_a_stops_the_fifth_hop(nats_url: str, plane: str) -> None:
    async with (
        actor_processes(["B", "C", "D", "E"], nats_url, plane) as procs,
        App(A(), bus=nats_url, plane=plane) as app,
    ):
        e = procs[-1]
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                scope = trio.CancelScope()

                async def call() -> None:
                    with scope:
                        await app.client(A).work()

                nursery.start_soon(call)
                await e.expect("started")
                scope.cancel()
                # E's budget is the 20 s default less the hops: the cancel frames stopped it
                assert await e.expect("finally") == "finally: cancelled"


async def test_a_source_breaking_off_stops_running_sinks(nats_url: str, plane: str) -> None:
    source = Source()
    async with (
        actor_processes(["Fast", "Slow"], nats_url, plane) as (_, slow),
        App(source, bus=nats_url, plane=plane),
    ):
        with trio.fail_after(30):
            async with source.on_job(n=7) as gathering:
                async for reply in gathering:
                    assert reply.value == 7  # the fast sink's answer
                    break
            assert await slow.expect("finally") == "finally: cancelled"


async def test_deadline_at_the_source_stops_the_sinks(nats_url: str, plane: str) -> None:
    source = Source()
    async with (
        actor_processes(["Fast", "Slow"], nats_url, plane) as (_, slow),
        App(source, bus=nats_url, plane=plane, hop_reserve=0.005),
    ):
        with trio.fail_after(30):
            got = []
            with trio.move_on_after(1.5):
                async for reply in source.on_job(n=1):
                    got.append(reply)
            await slow.expect("finally")
        assert any(r.ok and r.value == 1 for r in got)
