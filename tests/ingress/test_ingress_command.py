"""``actorbus ingress --http HOST:PORT --nats URL`` alone in front of a running bus; its
usage errors are one line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest
import trio

from tests.cli.helpers import Running, actorbus, actorbus_env, running

from .conftest import ACTORS, ingress_url

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_a_lone_ingress_serves_a_running_bus(nats_url: str, plane: str) -> None:
    bus = ["--nats", nats_url, "--plane", plane]
    async with running(ACTORS, *bus, "--trace-ws", "off"):
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "actorbus", "ingress", "--http", "127.0.0.1:0", *bus],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=actorbus_env(),
        )
        lone = Running(proc)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lone._read, proc.stdout, False)
                nursery.start_soon(lone._read, proc.stderr, True)
                nursery.start_soon(lone._watch_exit)
                url = await ingress_url(lone)
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    r = await client.get("/shop.example/sum", params={"a": 1, "b": 1})
                    assert r.json() == 2
                lone.signal(signal.SIGTERM)
                assert await lone.wait() == 0, lone.stderr
                assert "Traceback" not in lone.stderr
        finally:
            if proc.returncode is None:
                proc.kill()


async def test_usage_errors_are_one_line(nats_url: str) -> None:
    done = await actorbus("ingress", "--nats", nats_url)
    err = done.stderr.decode().strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1 and "--http" in err, err
    done = await actorbus("ingress", "--nats", nats_url, "--http", "nowhere")
    err = done.stderr.decode().strip()
    assert done.returncode == 2 and "HOST:PORT" in err and len(err.splitlines()) == 1, err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = await actorbus("ingress", "--nats", nats_url, "--http", f"127.0.0.1:{port}")
    err = done.stderr.decode().strip()
    errors = [line for line in err.splitlines() if line.startswith("actorbus: ")]
    assert done.returncode == 2 and len(errors) == 1 and "cannot listen" in errors[0], err
    assert "Traceback" not in err, err
