"""``actorbus run`` through real subprocesses against an embedded nats-server."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import msgspec
import pytest
import trio

from actorbus import App
from actorbus._wire.frames import encode_body

from .helpers import ACTORS, actorbus, actorbus_env, ping, run_args, running, wait_for_ping

pytestmark = [pytest.mark.nats, pytest.mark.slow]


def by_host(infos: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    return [i for i in infos if i["host"] == host]


async def test_workers_ping_call_and_restart(nats_url: str, plane: str) -> None:
    args = run_args(nats_url, plane, "--replicas", "2", "--workers", "2", "--grace", "2")
    async with running(*args) as run:
        infos = await wait_for_ping(
            nats_url, plane, lambda i: len(by_host(i, "slow.cli.test")) == 4
        )
        slow = by_host(infos, "slow.cli.test")
        pids = {i["pid"] for i in slow}
        assert len(pids) == 2, slow
        assert {i["version"] for i in slow} == {"1.2.3"}
        assert len(by_host(infos, "flaky.cli.test")) == 4

        done = await actorbus(
            "call", "slow.cli.test/hello", "name=ann", "--nats", nats_url, "--plane", plane
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == "hello ann"

        done = await actorbus(
            "call", "slow.cli.test/fail", "status=409", "--nats", nats_url, "--plane", plane
        )
        assert done.returncode == 1
        assert b"409" in done.stderr and b"refused on purpose" in done.stderr

        done = await actorbus("call", "slow.cli.test/missing", "--nats", nats_url, "--plane", plane)
        assert done.returncode == 3, done.stderr

        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        await run.wait_stderr("exited with signal SIGKILL; restarting")
        infos = await wait_for_ping(
            nats_url,
            plane,
            lambda i: (
                len(s := by_host(i, "slow.cli.test")) == 4 and victim not in {x["pid"] for x in s}
            ),
        )
        new_pids = {i["pid"] for i in by_host(infos, "slow.cli.test")}
        assert len(new_pids) == 2 and victim not in new_pids
        await run.wait_stderr("restarted")
        run.signal(signal.SIGTERM)
        assert await run.wait() == 0
    assert "exited with code 0" in run.stderr


@pytest.mark.parametrize("workers", [None, 2])
async def test_sigterm_answers_every_request_in_flight(
    nats_url: str, plane: str, workers: int | None
) -> None:
    extra = ("--workers", str(workers)) if workers else ()
    args = run_args(nats_url, plane, "--replicas", "2", "--grace", "5", *extra)
    results: dict[int, Any] = {}
    async with running(*args) as run, App(bus=nats_url, plane=plane, grace=1) as app:

        async def one(tag: int) -> None:
            body = encode_body({"seconds": 0.5, "tag": tag})
            results[tag] = await app.caller.call(
                "slow.cli.test", 443, "POST", "/nap", body, msgspec.msgpack.decode
            )

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for tag in range(5):
                    nursery.start_soon(one, tag)
                await run.wait_stderr("nap ", count=5)
                run.signal(signal.SIGTERM)
            assert await run.wait() == 0
    assert results == {tag: tag for tag in range(5)}
    assert "shutting down gracefully" in run.stderr


async def test_startup_failure_is_retried_with_backoff(
    nats_url: str, plane: str, tmp_path: Any
) -> None:
    env = actorbus_env(FLAKY_FILE=str(tmp_path / "tries"), FLAKY_FAILURES="2")
    async with running(*run_args(nats_url, plane, target=f"{ACTORS}:Slow,Flaky"), env=env) as run:
        line = await run.wait_stdout("actorbus ready")
        assert "slow.cli.test x1" in line and "failed to start, retrying" in line
        # the others keep running meanwhile
        done = await actorbus("call", "slow.cli.test/hello", "--nats", nats_url, "--plane", plane)
        assert done.returncode == 0
        await wait_for_ping(nats_url, plane, lambda i: len(by_host(i, "flaky.cli.test")) == 1)
        assert "retrying in 0.5 s" in run.stderr and "retrying in 1.0 s" in run.stderr
        assert (tmp_path / "tries").read_text() == "3"


async def test_ping_groups_by_host_and_reports_nothing(nats_url: str, plane: str) -> None:
    done = await actorbus("ping", "--nats", nats_url, "--plane", plane)
    assert done.returncode == 3
    assert b"no actor answered" in done.stderr
    async with running(*run_args(nats_url, plane, "--replicas", "2")):
        done = await actorbus("ping", "--nats", nats_url, "--plane", plane)
        assert done.returncode == 0, done.stderr
        text = done.stdout.decode()
        assert "slow.cli.test  (2 running)" in text and "flaky.cli.test  (2 running)" in text
        only = await ping(nats_url, plane, "flaky.cli.test")
        assert {i["host"] for i in only} == {"flaky.cli.test"}


async def test_nats_url_from_the_environment(nats_url: str, plane: str) -> None:
    env = actorbus_env(NATS_URL=nats_url, ACTORBUS_PLANE=plane)
    async with running(ACTORS + ":Slow", env=env):
        done = await actorbus("call", "slow.cli.test/hello", "--json", '{"name": "env"}', env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == "hello env"


async def test_embedded_server_when_no_bus_is_given(plane: str) -> None:
    async with running(ACTORS + ":Slow", "--plane", plane, "--trace-ws", "off") as run:
        line = await run.wait_stdout("actorbus ready")
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert url.startswith("nats://127.0.0.1:")
        infos = await ping(url, plane)
        assert [i["host"] for i in infos] == ["slow.cli.test"]
        run.signal(signal.SIGTERM)
        assert await run.wait() == 0
