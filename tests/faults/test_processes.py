"""Processes die: a worker killed with SIGKILL, a supervisor stopped with SIGTERM under load, a
supervisor killed with SIGKILL (its embedded nats-server must not survive it)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from actorbus import App, Error
from actorbus._transport.embedded import EmbeddedServer

from ..cli.helpers import actorbus, actorbus_env, running
from ..hostile.peers import Acks
from .actors import Work
from .load import DOCUMENTED, Tally, kind, stream

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACTORS = str(Path(__file__).with_name("actors.py")) + ":Work"
HOLDS = 6


def lines(run_stdout: list[str], prefix: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in run_stdout if line.startswith(prefix + " ")]


async def test_worker_killed_in_flight_calls_learn_at_once_and_it_comes_back(
    server: EmbeddedServer, plane: str, figures: Callable[..., None]
) -> None:
    args = (ACTORS, "--nats", server.url, "--plane", plane, "--workers", "2", "--trace-ws", "off")
    outcomes: list[tuple[str, float]] = []
    async with running(*args) as run, App(bus=server.url, plane=plane) as app:
        pids = {int(p) for p in run.stdout[-1].split("(pids ")[1].split(")")[0].split(", ")}
        acks = await Acks.watch(app)

        async def hold() -> None:
            try:
                outcomes.append((str(await app.client(Work).hold(seconds=3)), trio.current_time()))
            except Error as exc:
                outcomes.append((kind(exc), trio.current_time()))

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for _ in range(HOLDS):
                    nursery.start_soon(hold)
                while len(lines(run.stdout, "HOLD")) < HOLDS:  # every call running
                    await run._changed.wait()
                await acks.wait_for(HOLDS)  # ... and its ack has reached the caller
                victim = int(lines(run.stdout, "HOLD")[0])
                on_victim = lines(run.stdout, "HOLD").count(str(victim))
                killed_at = trio.current_time()
                os.kill(victim, signal.SIGKILL)
                await run.wait_stderr("restarted")  # while the survivors' calls still hold
                restart = trio.current_time() - killed_at
            new_pid = 0
            while new_pid in pids or not new_pid:  # later calls succeed, on the new worker too
                new_pid = await app.client(Work).pid()
    failed = [(what, at - killed_at) for what, at in outcomes if not what.isdigit()]
    assert len(failed) == on_victim
    assert {what for what, _ in failed} == {"BusError (outcome unknown)"}, failed  # all acked
    assert all(int(what) != victim for what, _ in outcomes if what.isdigit())
    figures(
        in_flight=HOLDS,
        on_killed_worker=on_victim,
        failed={what: sum(1 for w, _ in failed if w == what) for what, _ in failed},
        failed_after_s=round(max(t for _, t in failed), 2),
        restart_s=round(restart, 2),
        hung=sum(1 for _, t in failed if t > 20),  # past the default budget of 20 s
    )


async def test_sigterm_under_load_loses_nothing(
    server: EmbeddedServer, plane: str, figures: Callable[..., None]
) -> None:
    args = (ACTORS, "--nats", server.url, "--plane", plane, "--workers", "2", "--trace-ws", "off")
    tally = Tally()
    stop = trio.Event()
    async with App(bus=server.url, plane=plane) as app:

        async def call(token: str) -> object:
            return await app.client(Work).work(token=token, seconds=0.3, tell=True)

        with trio.fail_after(60):
            async with running(*args) as run, trio.open_nursery() as nursery:
                for i in range(4):
                    nursery.start_soon(stream, f"t{i}", call, tally, stop, 10.0)
                await tally.wait_ok(20)
                while not (
                    busy := set(lines(run.stdout, "START")) - set(lines(run.stdout, "DONE"))
                ):
                    await run._changed.wait()  # a handler known to be running in a worker
                run.signal(signal.SIGTERM)
                code = await run.wait()
                stop.set()
            done = set(lines(run.stdout, "DONE"))  # read to the end: every handler that ran
    lost = done - tally.ok_tokens
    assert code == 0
    assert not lost, f"{len(lost)} calls ran but their callers never got the reply"
    assert tally.hung == 0 and tally.out_of_budget == 0
    assert not tally.unexpected, tally.unexpected
    assert set(tally.failed) <= {"NoResponder", "AckTimeout"}, tally.failed  # did not run
    assert set(tally.failed) <= DOCUMENTED
    assert busy <= tally.ok_tokens, "a call running at SIGTERM was not drained"
    figures(**tally.figures(), ran=len(done), running_at_sigterm=len(busy), lost=len(lost))


@contextlib.contextmanager
def hold_port(port: int) -> Iterator[None]:
    """Keep ``port`` taken for the block (by us, unless something else already has it)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    try:
        yield
    finally:
        sock.close()


def children(pid: int, name: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text.split("(", 1)[1].rsplit(")", 1)
        if comm == name and rest.split()[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfd_open")
async def test_sigkill_of_actorbus_run_leaves_no_server_and_no_folder(
    tmp_path: Path, plane: str, figures: Callable[..., None]
) -> None:
    (tmp_path / "tmp").mkdir()
    env = actorbus_env(ACTORBUS_STATE_DIR=str(tmp_path / "state"), TMPDIR=str(tmp_path / "tmp"))
    with hold_port(4222):
        async with running(ACTORS, "--plane", plane, "--trace-ws", "off", env=env) as run:
            url = run.stdout[-1].split(" on ", 1)[1].split(" ", 1)[0]
            said = [line for line in run.stderr.splitlines() if "4222 is taken" in line]
            assert len(said) == 1 and url in said[0]
            # A second terminal with no --nats finds this bus (and plane), not port 4222.
            found = await actorbus("ping", "--json", env=env)
            assert found.returncode == 0, found.stderr
            assert b"work.faults.test" in found.stdout
            (server_pid,) = children(run.proc.pid, "nats-server")
            pidfd = os.pidfd_open(server_pid)
            try:
                killed_at = trio.current_time()
                run.proc.kill()
                with trio.fail_after(10):
                    await trio.lowlevel.wait_readable(pidfd)  # the server process has exited
                gone_after = trio.current_time() - killed_at
            finally:
                os.close(pidfd)
    for _ in range(500):  # JetStream's store goes once the server is gone (a watcher): 5 s
        if not list((tmp_path / "tmp").iterdir()):
            break
        await trio.sleep(0.01)  # poll interval of a bounded condition loop
    assert not list((tmp_path / "tmp").iterdir()), "a temporary folder was left behind"
    figures(server_gone_after_s=round(gone_after, 3), orphans=0, folders_left=0)
