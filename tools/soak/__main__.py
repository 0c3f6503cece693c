"""``python -m tools.soak [--seconds N] [--nodes 3] [--workers 2] [--tasks 4] [--fault-every S]``

A longer run than the fault suite, on its own embedded cluster (``--nodes``) on loopback: worker
processes (``actorbus run --workers``) serve `Work`; in this process, one App per node calls it
from several tasks, and a source gathers events from a sink host with a replica on every node.
Every ``--fault-every`` seconds a fault hits, in turn: a node killed (SIGKILL) and restarted, or
a worker process killed (SIGKILL; the supervisor restarts it). At the end it prints one JSON line:
calls made, ok, failed by error type, out of budget, hung, gathers, events delivered twice, faults
and the recovery time after each (fault to the next successful call).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from actorbus import AckTimeout, App, BusError, Error, NoResponder, TimeBudgetExceeded
from actorbus._transport.cluster import EmbeddedCluster

from .actors import Feed, Ledger, Work

BUDGET = 5.0
HANG_MARGIN = 5.0
PACE = 0.005  # between two calls of one task: the shape of the load


def kind(exc: BaseException) -> str:
    if isinstance(exc, BusError):
        if "outcome is unknown" in str(exc):
            return "BusError (outcome unknown)"
        return "BusError (not sent)" if "cannot send" in str(exc) else "BusError"
    return type(exc).__name__


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.calls = self.ok = self.out_of_budget = self.hung = 0
        self.failed: collections.Counter[str] = collections.Counter()
        self.unexpected: list[str] = []
        self.gathers = self.gathers_short = 0
        self.faults: collections.Counter[str] = collections.Counter()
        self.recoveries: list[float] = []
        self.fault_at: float | None = None
        self.succeeded = trio.Event()

    async def caller(self, app: App, stop: trio.Event) -> None:
        while not stop.is_set():
            self.calls += 1
            started = trio.current_time()
            with trio.move_on_after(BUDGET) as scope:
                try:
                    await app.client(Work).work()
                except (NoResponder, AckTimeout, BusError, TimeBudgetExceeded) as exc:
                    self.failed[kind(exc)] += 1
                except Error as exc:
                    self.unexpected.append(repr(exc))
                else:
                    self.ok += 1
                    if self.fault_at is not None:
                        self.recoveries.append(trio.current_time() - self.fault_at)
                        self.fault_at = None
                    self.succeeded.set()
            self.out_of_budget += scope.cancelled_caught
            self.hung += trio.current_time() - started > BUDGET + HANG_MARGIN
            await trio.sleep(PACE)

    async def gatherer(self, feed: Feed, sinks: int, stop: trio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            self.gathers += 1
            with trio.move_on_after(BUDGET):
                try:
                    hosts = [r.host async for r in feed.on_item(n=n) if r.ok]
                except BusError as exc:
                    self.failed[f"gather {kind(exc)}"] += 1
                    hosts = []
                self.gathers_short += len(hosts) < sinks
            await trio.sleep(PACE * 4)

    async def wait_recovered(self) -> None:
        self.succeeded = trio.Event()
        await self.succeeded.wait()


def worker_pids(supervisor: int) -> list[int]:
    """Worker processes of an ``actorbus run --workers`` supervisor (Linux /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(supervisor):
            pids.append(int(stat.parent.name))
    return pids


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    plane = "soak" + secrets.token_hex(4)
    cluster = EmbeddedCluster(args.nodes)
    await trio.to_thread.run_sync(cluster.start)
    state = Soak(args)
    stop = trio.Event()
    ledgers = [Ledger() for _ in cluster.urls]
    feed = Feed()
    here = Path(__file__).with_name("actors.py")
    argv = [sys.executable, "-m", "actorbus", "run", f"{here}:Work", "--nats", cluster.url,
            "--plane", plane, "--workers", str(args.workers), "--trace-ws", "off",
            "--log-level", "ERROR"]  # fmt: skip
    started = trio.current_time()
    supervisor = await trio.lowlevel.open_process(argv, stdout=subprocess.DEVNULL)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervisor.wait)
            apps = []
            for i, url in enumerate(cluster.urls):
                actors = [ledgers[i], *([feed] if i == 0 else [])]
                apps.append(await nursery.start(_app, url, plane, actors, stop))
            with trio.fail_after(60):  # the workers start, and their interest spreads
                while not await _served(apps[-1]):
                    pass
            for i in range(args.tasks):
                nursery.start_soon(state.caller, apps[i % len(apps)], stop)
            nursery.start_soon(state.gatherer, feed, 1, stop)
            deadline = started + args.seconds
            turn = 0
            while trio.current_time() + args.fault_every < deadline:
                await trio.sleep(args.fault_every)
                turn += 1
                state.fault_at = trio.current_time()
                if turn % 2 and args.nodes > 1:
                    node = random.randrange(1, args.nodes)  # node 0 keeps the event source
                    await trio.to_thread.run_sync(lambda n=node: cluster.stop_node(n, kill=True))
                    await trio.to_thread.run_sync(lambda n=node: cluster.start_node(n))
                    state.faults["node killed"] += 1
                else:
                    pids = worker_pids(supervisor.pid)
                    if pids:
                        os.kill(random.choice(pids), signal.SIGKILL)
                        state.faults["worker killed"] += 1
                with trio.fail_after(60):
                    await state.wait_recovered()
            await trio.sleep_until(deadline)
            stop.set()
            supervisor.send_signal(signal.SIGTERM)
    finally:
        with trio.CancelScope(shield=True):
            if supervisor.returncode is None:  # interrupted: do not leave the workers behind
                supervisor.send_signal(signal.SIGTERM)
                with trio.move_on_after(20):
                    await supervisor.wait()
            await trio.to_thread.run_sync(cluster.stop)
    seen = [n for ledger in ledgers for n in ledger.seen]
    return {
        "seconds": round(trio.current_time() - started, 1),
        "nodes": args.nodes,
        "workers": args.workers,
        "tasks": args.tasks,
        "calls": state.calls,
        "ok": state.ok,
        "failed": dict(sorted(state.failed.items())),
        "unexpected": len(state.unexpected),
        "out_of_budget": state.out_of_budget,
        "hung": state.hung,
        "gathers": state.gathers,
        "gathers_missing_the_sink": state.gathers_short,
        "events_delivered_twice": len(seen) - len(set(seen)),
        "faults": dict(state.faults),
        "recovery_s_median": round(statistics.median(state.recoveries), 3)
        if state.recoveries
        else None,
        "recovery_s_max": round(max(state.recoveries), 3) if state.recoveries else None,
    }


async def _served(app: App) -> bool:
    try:
        await app.client(Work).work()
        return True
    except (NoResponder, AckTimeout):
        await trio.sleep(0.05)  # the workers are still starting: poll
        return False


async def _app(
    url: str,
    plane: str,
    actors: list[Any],
    stop: trio.Event,
    *,
    task_status: trio.TaskStatus[App] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with App(*actors, bus=url, plane=plane, grace=1) as app:
        task_status.started(app)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the run (300)")
    parser.add_argument("--nodes", type=int, default=3, help="nats-servers in the cluster (3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes serving Work (2)")
    parser.add_argument("--tasks", type=int, default=4, help="calling tasks (4)")
    parser.add_argument("--fault-every", type=float, default=15.0, help="seconds between faults")
    args = parser.parse_args(argv)
    figures = trio.run(soak, args)
    print(json.dumps(figures, sort_keys=True), flush=True)
    bad = figures["hung"] or figures["unexpected"] or figures["events_delivered_twice"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
