"""``actorbus run --reload``: restart the actor processes when a file of the targets changes.

The supervisor keeps the embedded nats-server, the live tracer and anything else it serves;
only the worker processes (one unless ``--workers N``) restart. Before a restart, the new code
must import: ``actorbus run TARGET... --check`` in a fresh process loads and verifies the
targets. When it fails, one line says why and the old code keeps running.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import trio

from .._runtime.actor import Actor

__all__ = ["watch_and_reload", "watch_paths"]

log = logging.getLogger("actorbus.run")

#: Changes within this long of each other are one reload (an editor writes in several steps).
DEBOUNCE_MS = 200
CHECK_SECONDS = 60.0


def watch_paths(targets: Sequence[str], classes: Iterable[type[Actor]]) -> list[Path]:
    """The folders to watch: each target file's or folder's, and each actor module's."""
    found: set[Path] = set()
    for target in targets:
        head = target.partition(":")[0]
        path = Path(head if head.endswith(".py") else target)
        if path.is_dir():
            found.add(path.resolve())
        elif path.is_file():
            found.add(path.resolve().parent)
    for cls in classes:
        module = sys.modules.get(cls.__module__)
        file = getattr(module, "__file__", None)
        if file:
            found.add(Path(file).resolve().parent)
    return sorted(found)


async def check_imports(check_argv: Sequence[str]) -> str | None:
    """Load the targets in a fresh process; the one-line problem, or None when they import."""
    with trio.move_on_after(CHECK_SECONDS):
        done = await trio.run_process(
            list(check_argv), capture_stdout=True, capture_stderr=True, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode == 0:
            return None
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return (lines[-1] if lines else f"exit status {done.returncode}").removeprefix("actorbus: ")
    return f"loading the new code took over {CHECK_SECONDS:g} s"


async def watch_and_reload(
    paths: Sequence[Path],
    check_argv: Sequence[str],
    restart: Callable[[], None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Watch ``paths`` for changed Python files; on each change, check the new code and call
    ``restart`` (or print one line and keep the old code). Runs until cancelled."""
    from watchfiles import PythonFilter, awatch

    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # we say what changed ourselves
    shown = ", ".join(str(p) for p in paths)
    log.info("--reload: watching %s", shown)
    task_status.started()
    async for changes in awatch(*paths, watch_filter=PythonFilter(), debounce=DEBOUNCE_MS):
        names = ", ".join(sorted({Path(p).name for _, p in changes}))
        problem = await check_imports(check_argv)
        if problem is not None:
            line = f"actorbus: reload: {names} changed but does not load: {problem}"
            print(f"{line}; the old code keeps running", file=sys.stderr, flush=True)
            continue
        log.info("--reload: %s changed: restarting the actor processes", names)
        restart()
