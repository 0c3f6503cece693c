"""Helpers for driving ``python -m actorbus`` in subprocesses, every wait bounded in time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).parent
ACTORS = str(HERE / "cli_actors.py")


def actorbus_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTORBUS_")}
    env.pop("NATS_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


async def actorbus(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m actorbus ARGS`` to completion (bounded), capturing its output."""
    with trio.fail_after(timeout):
        return await trio.run_process(
            [sys.executable, "-m", "actorbus", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env or actorbus_env(),
        )


async def ping(url: str, plane: str, host: str = "all") -> list[dict[str, Any]]:
    done = await actorbus("ping", host, "--json", "--nats", url, "--plane", plane)
    assert done.returncode in (0, 3), done.stderr.decode()
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


async def wait_for_ping(
    url: str, plane: str, check: Any, *, timeout: float = 30
) -> list[dict[str, Any]]:
    """Ping until ``check(infos)`` holds (a bounded condition loop; each ping takes ~0.3 s)."""
    with trio.fail_after(timeout):
        while True:
            infos = await ping(url, plane)
            if check(infos):
                return infos


class Running:
    """A running ``actorbus run`` process: its stdout lines and stderr text as they come."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr = ""
        self._changed = trio.Event()

    async def _read(self, stream: Any, is_err: bool) -> None:
        buffer = b""
        async for chunk in stream:
            if is_err:
                self.stderr += chunk.decode(errors="replace")
            else:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                self.stdout.extend(line.decode(errors="replace") for line in lines)
            self._changed.set()
            self._changed = trio.Event()

    async def _watch_exit(self) -> None:
        await self.proc.wait()
        self._changed.set()

    def _show(self) -> str:
        return "\n--- stdout ---\n" + "\n".join(self.stdout) + "\n--- stderr ---\n" + self.stderr

    async def wait_stdout(self, needle: str, timeout: float = 30) -> str:
        with trio.move_on_after(timeout):
            while True:
                for line in self.stdout:
                    if needle in line:
                        return line
                if self.proc.returncode is not None:
                    raise AssertionError(f"exited with {self.proc.returncode}{self._show()}")
                await self._changed.wait()
        raise AssertionError(f"no {needle!r} on stdout within {timeout} s{self._show()}")

    async def wait_stderr(self, needle: str, count: int = 1, timeout: float = 30) -> None:
        with trio.move_on_after(timeout):
            while self.stderr.count(needle) < count:
                if self.proc.returncode is not None:
                    raise AssertionError(f"exited with {self.proc.returncode}{self._show()}")
                await self._changed.wait()
            return
        raise AssertionError(f"not {count}x {needle!r} on stderr in {timeout} s{self._show()}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signum)

    async def wait(self, timeout: float = 30) -> int:
        with trio.fail_after(timeout):
            return await self.proc.wait()


@asynccontextmanager
async def running(
    *args: str,
    env: dict[str, str] | None = None,
    ready: bool = True,
    command: Sequence[str] = (sys.executable, "-m", "actorbus", "run"),
) -> AsyncIterator[Running]:
    """``actorbus run ARGS`` (or ``command ARGS``); waits for its ready line; SIGTERM (then
    SIGKILL) at the end."""
    proc = await trio.lowlevel.open_process(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or actorbus_env(),
    )
    run = Running(proc)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run._read, proc.stdout, False)
            nursery.start_soon(run._read, proc.stderr, True)
            nursery.start_soon(run._watch_exit)
            if ready:
                await run.wait_stdout("actorbus ready")
            yield run
            run.signal(signal.SIGTERM)
            with trio.move_on_after(30):
                await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await proc.wait()


def run_args(url: str, plane: str, *extra: str, target: str = ACTORS) -> Sequence[str]:
    return (target, "--nats", url, "--plane", plane, *extra)
