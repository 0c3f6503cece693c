"""The ``actorbus run`` engine: import actors, run replicas and worker processes, restart what
fails with capped exponential backoff, and shut down gracefully on SIGINT/SIGTERM.

Shutdown (as Microbus §6.9): the first signal stops the restart loops, then every actor stops its
tickers, stops taking requests, lets running handlers finish within ``grace`` seconds, cancels
what is left and runs ``on_shutdown``; the process exits 0. A second signal cancels at once
(exit 130). Worker processes run in their own session, so a terminal's Ctrl-C reaches only the
supervisor, which forwards SIGTERM; a worker also stops when its stdin (a pipe from the
supervisor) closes, so workers never outlive a killed supervisor. When a worker dies, the
supervisor announces its actor instances as gone, so callers waiting on them learn at once that
those calls' outcome is unknown, rather than waiting out their time budget.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .._app import App
from .._runtime.actor import Actor
from .._transport.settings import redact
from .health import Readiness, serve_health
from .process import watch_signals, watch_stdin_eof
from .targets import TargetError, load_targets

if TYPE_CHECKING:
    from .._transport.credentials import Credentials

__all__ = ["Backoff", "RunOptions", "TargetError", "load_targets", "run"]

log = logging.getLogger("actorbus.run")

READY_PREFIX = "ACTORBUS-READY "


@dataclass
class RunOptions:
    """What ``actorbus run`` was asked to do."""

    targets: list[str]
    nats: str | None = None
    replicas: int = 1
    workers: int | None = None
    grace: float = 8.0
    plane: str | None = None
    trace_ws: str | None = None
    worker: str | None = None  # hidden: set in worker processes ("w1", "w2", ...)
    metrics: tuple[str, int] | None = None  # serve /metrics here (workers: consecutive ports)
    otel: bool = False
    credentials: Credentials | None = None  # each actor connects as itself
    health: tuple[str, int] | None = None  # serve /healthz and /readyz here (not in workers)
    reload: tuple[list[Path], list[str]] | None = None  # (folders to watch, the check's argv)


class Backoff:
    """Capped exponential backoff: ``first`` doubling up to ``cap``; reset by a long enough run."""

    def __init__(self, first: float = 0.5, cap: float = 30.0, stable_after: float = 30.0):
        self.first, self.cap, self.stable_after = first, cap, stable_after
        self.failures = 0

    def next(self) -> float:
        delay: float = min(self.cap, self.first * 2.0**self.failures)
        self.failures += 1
        return delay

    def ran_for(self, seconds: float) -> None:
        if seconds >= self.stable_after:
            self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    @property
    def crash_loop(self) -> bool:
        """Several quick failures in a row."""
        return self.failures >= 3


# -- one process: replicas of each actor, retried while on_startup fails ------------------


@dataclass
class Slot:
    """One replica of one actor class, kept running."""

    cls: type[Actor]
    index: int
    actor: Actor | None = None
    failures: int = 0
    attempted: trio.Event = field(default_factory=trio.Event)

    async def keep_running(self, app: App) -> None:
        host = self.cls.host()
        backoff = Backoff()
        while True:
            actor = self.cls()
            try:
                await app.add(actor)
            except Exception as exc:
                self.failures += 1
                delay = backoff.next()
                log.error(
                    "%s (replica %d) failed to start: %r; retrying in %.1f s",
                    host, self.index + 1, exc, delay, exc_info=exc,
                )  # fmt: skip
                if backoff.crash_loop:
                    log.error(
                        "%s is in a crash loop (%d failed starts in a row); backing off",
                        host, backoff.failures,
                    )  # fmt: skip
                self.attempted.set()
                await trio.sleep(delay)
                continue
            self.actor = actor
            backoff.reset()
            self.attempted.set()
            await actor._stopped.wait()
            self.actor = None
            log.warning("%s (instance %s) stopped unexpectedly; restarting", host, actor.instance)


def summary(slots: Sequence[Slot], bus: str, plane: str) -> str:
    counts: dict[str, list[int]] = {}
    for slot in slots:
        tally = counts.setdefault(slot.cls.host(), [0, 0])
        tally[0 if slot.actor is not None else 1] += 1
    parts = []
    for host, (up, down) in counts.items():
        parts.append(f"{host} x{up}" + (f" ({down} failed to start, retrying)" if down else ""))
    shown = ",".join(redact(url) for url in bus.split(","))  # never a password in output
    return f"{', '.join(parts)} on {shown} (plane {plane})"


async def serve(
    classes: Sequence[type[Actor]],
    opts: RunOptions,
    bus: str,
    stop: trio.Event,
    on_ready: Callable[[list[Slot], App], None],
    readiness: Readiness | None = None,
) -> None:
    """Run ``replicas`` of each class on ``bus`` until ``stop``, then shut down gracefully."""
    async with App(
        bus=bus,
        plane=opts.plane,
        grace=opts.grace,
        metrics=bool(opts.metrics),
        otel=opts.otel,
        credentials=opts.credentials,
    ) as app:
        slots = [Slot(cls, i) for cls in classes for i in range(opts.replicas)]
        async with trio.open_nursery() as nursery:
            if opts.metrics:
                from .metrics_http import serve_metrics

                await nursery.start(serve_metrics, app.metrics.render, *opts.metrics)
            for slot in slots:
                nursery.start_soon(slot.keep_running, app)
            for slot in slots:
                await slot.attempted.wait()
            on_ready(slots, app)
            if readiness is not None:
                readiness.check = lambda: _not_ready(stop, app, slots)
            await stop.wait()
            log.info("stopping %d actors (grace %g s)", len(app.actors), opts.grace)
            nursery.cancel_scope.cancel()
    log.info("all actors stopped")


def _not_ready(stop: trio.Event, app: App, slots: Sequence[Slot]) -> str | None:
    """Why this process should not get traffic now (for ``/readyz``), or None."""
    if stop.is_set():
        return "draining"
    if not app.transport.connected:
        return "disconnected from the bus"
    down = sorted({s.cls.host() for s in slots if s.actor is None})
    return f"not running: {', '.join(down)}" if down else None


async def run_in_process(
    classes: Sequence[type[Actor]],
    opts: RunOptions,
    bus: str,
    extra: Sequence[Callable[[], Awaitable[object]]] = (),
) -> int:
    """This process runs the actors. Returns the exit code (0 graceful, 130 forced)."""
    stop = trio.Event()
    forced = False

    async with trio.open_nursery() as outer:

        def first(name: str) -> None:
            log.info(
                "%s: shutting down gracefully (grace %g s); send it again to stop at once",
                name, opts.grace,
            )  # fmt: skip
            stop.set()

        def second(name: str) -> None:
            nonlocal forced
            forced = True
            log.warning("%s again: cancelling everything now", name)
            outer.cancel_scope.cancel()

        await outer.start(watch_signals, first, second)
        readiness = Readiness()
        if opts.health and not opts.worker:
            await outer.start(serve_health, readiness, *opts.health)
        if opts.worker:
            outer.start_soon(watch_stdin_eof, stop)
        for task in extra:
            outer.start_soon(task)

        def ready(slots: list[Slot], app: App) -> None:
            if opts.worker:
                info = {
                    "pid": os.getpid(),
                    "instances": [[s.cls.host(), s.actor.instance] for s in slots if s.actor],
                    "summary": summary(slots, bus, app.plane),
                }
                print(READY_PREFIX + json.dumps(info), flush=True)
            else:
                what = summary(slots, bus, app.plane)
                print(f"actorbus ready: {what}, pid {os.getpid()}", flush=True)

        await serve(classes, opts, bus, stop, ready, readiness)
        outer.cancel_scope.cancel()
    return 130 if forced else 0


# -- several processes ---------------------------------------------------------------------


@dataclass
class Worker:
    """One worker process slot, restarted with backoff when its process dies."""

    tag: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # secrets go here, never in argv
    proc: trio.Process | None = None
    ready: trio.Event = field(default_factory=trio.Event)
    info: dict[str, object] = field(default_factory=dict)
    restarts: int = 0
    on_gone: Callable[[list[str]], None] = lambda instances: None
    reloading: bool = False  # stopped on purpose, for new code: start again at once

    def reload(self) -> None:
        """Stop the process gracefully and start it again at once (``--reload``)."""
        if self.proc is not None:
            self.reloading = True
            self.signal(signal.SIGTERM)

    async def keep_running(self, stop: trio.Event) -> None:
        backoff = Backoff()
        env = {**os.environ, **self.env, "ACTORBUS_WORKER": self.tag}
        while not stop.is_set():
            started = trio.current_time()
            proc = await trio.lowlevel.open_process(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            self.proc = proc
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, proc)
                    code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    with trio.CancelScope(shield=True):
                        await proc.wait()
            self.proc = None
            instances = self.info.pop("instances", None)
            if isinstance(instances, list) and instances and not stop.is_set():
                self.on_gone([str(pair[1]) for pair in instances])
            if stop.is_set():
                log.info("worker %s (pid %d) exited with %s", self.tag, proc.pid, _describe(code))
                return
            if self.reloading:
                self.reloading = False
                self.restarts += 1
                backoff.reset()
                continue
            backoff.ran_for(trio.current_time() - started)
            delay = backoff.next()
            self.restarts += 1
            log.warning(
                "worker %s (pid %d) exited with %s; restarting in %.1f s",
                self.tag, proc.pid, _describe(code), delay,
            )  # fmt: skip
            if backoff.crash_loop:
                log.error(
                    "worker %s is in a crash loop (%d quick exits in a row); backing off",
                    self.tag, backoff.failures,
                )  # fmt: skip
            self.ready.set()  # a worker that never got ready still counts for the summary
            with trio.move_on_after(delay):
                await stop.wait()

    async def _pump(self, proc: trio.Process) -> None:
        """Forward the worker's stdout; pick out its readiness line."""
        assert proc.stdout is not None
        buffer = b""
        async for chunk in proc.stdout:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if text.startswith(READY_PREFIX):
                    self.info = json.loads(text[len(READY_PREFIX) :])
                    if self.restarts:
                        log.info("worker %s restarted (pid %d) and ready", self.tag, proc.pid)
                    self.ready.set()
                else:
                    print(text, flush=True)
        if buffer:
            print(buffer.decode(errors="replace"), flush=True)

    def signal(self, signum: int) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


async def run_workers(
    opts: RunOptions,
    bus: str,
    argv: list[str],
    extra: Sequence[Callable[[], Awaitable[object]]] = (),
) -> int:
    """Start ``opts.workers`` processes running ``argv``; keep them running until a signal."""
    assert opts.workers
    stop = trio.Event()
    forced = False
    workers = [
        Worker(f"w{i + 1}", [*argv, "--worker", f"w{i + 1}"], {"NATS_URL": bus})
        for i in range(opts.workers)
    ]
    for i, w in enumerate(workers):
        w.argv += worker_metrics(opts.metrics, i)

    async with (
        # With credentials the supervisor's own connection (it announces dead workers'
        # instances) is the edge identity, which the generated config allows.
        App(
            bus=bus, plane=opts.plane, hostname="run.actorbus", credentials=opts.credentials
        ) as app,
        trio.open_nursery() as outer,
    ):

        def gone(instances: list[str]) -> None:
            try:
                app.hub.announce_gone(instances)
            except Exception as exc:  # the bus is away: callers fall back on their budgets
                log.warning("could not announce the instances of a dead worker: %s", exc)

        for w in workers:
            w.on_gone = gone

        def first(name: str) -> None:
            log.info(
                "%s: stopping %s gracefully (grace %g s)", name, _count(len(workers)), opts.grace
            )
            stop.set()
            for w in workers:
                w.signal(signal.SIGTERM)
            outer.start_soon(_kill_after, workers, opts.grace + 10.0)

        def second(name: str) -> None:
            nonlocal forced
            forced = True
            log.warning("%s again: killing the workers now", name)
            for w in workers:
                w.signal(signal.SIGKILL)

        await outer.start(watch_signals, first, second)
        if opts.reload is not None:
            from .reload import watch_and_reload

            def reload_all() -> None:
                for w in workers:
                    w.reload()

            await outer.start(watch_and_reload, *opts.reload, reload_all)
        if opts.health:
            readiness = Readiness()
            readiness.check = lambda: _workers_not_ready(stop, app, workers)
            await outer.start(serve_health, readiness, *opts.health)
        for task in extra:
            outer.start_soon(task)
        async with trio.open_nursery() as slots:
            for w in workers:
                slots.start_soon(w.keep_running, stop)
            for w in workers:
                await w.ready.wait()
            pids = ", ".join(str(w.info.get("pid", "?")) for w in workers)
            what = workers[0].info.get("summary", "")
            print(f"actorbus ready: {_count(len(workers))} (pids {pids}), each: {what}", flush=True)
        outer.cancel_scope.cancel()
    return 130 if forced else 0


def _workers_not_ready(stop: trio.Event, app: App, workers: Sequence[Worker]) -> str | None:
    if stop.is_set():
        return "draining"
    if not app.transport.connected:
        return "disconnected from the bus"
    down = [w.tag for w in workers if w.proc is None or not w.info.get("instances")]
    return f"workers not ready: {', '.join(down)}" if down else None


def _count(n: int) -> str:
    return f"{n} worker" if n == 1 else f"{n} workers"


def worker_metrics(metrics: tuple[str, int] | None, index: int) -> list[str]:
    """The ``--metrics`` option of worker ``index`` (0-based): consecutive ports from PORT
    (port 0: each worker picks a free port and logs it)."""
    if metrics is None:
        return []
    host, port = metrics
    port = port + index if port else 0
    return ["--metrics", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]


async def _kill_after(workers: Sequence[Worker], seconds: float) -> None:
    await trio.sleep(seconds)
    for w in workers:
        if w.proc is not None:
            log.error("worker %s did not stop within %g s: killing it", w.tag, seconds)
            w.signal(signal.SIGKILL)


async def run(
    opts: RunOptions,
    classes: Sequence[type[Actor]],
    bus: str,
    worker_argv: list[str] | None,
    extra: Sequence[Callable[[], Awaitable[object]]] = (),
) -> int:
    """Run on ``bus``: in this process, or in workers started from ``worker_argv``.

    ``extra`` tasks (such as the live tracer) run beside the supervisor until it stops."""
    if opts.workers and not opts.worker:
        assert worker_argv is not None
        return await run_workers(opts, bus, worker_argv, extra)
    return await run_in_process(classes, opts, bus, extra)
