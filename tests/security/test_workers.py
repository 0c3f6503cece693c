"""``actorbus run --workers 2 --credentials FILE`` under the generated config: the supervisor's
own connection is the edge identity (it used to be anonymous, and the run exited 5 with
"Authorization Violation"), and calls reach both workers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer

from ..cli.helpers import actorbus, actorbus_env, running
from .pid_actors import Pids

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACTORS = str(Path(__file__).with_name("pid_actors.py"))


async def test_workers_with_credentials_serve_under_the_generated_config(tmp_path: Path) -> None:
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    done = await actorbus("acl", ACTORS, "--conf", str(conf), "--credentials", str(creds))
    assert done.returncode == 0, done.stderr
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server:
        env = actorbus_env(NATS_URL=server.url, ACTORBUS_PLANE="wrk")
        args = [ACTORS, "--workers", "2", "--grace", "2", "--credentials", str(creds)]
        async with running(*args, env=env) as run:
            ready = await run.wait_stdout("actorbus ready")
            pids = {int(p) for p in re.findall(r"\d+", ready.split("pids", 1)[1].split(")")[0])}
            assert len(pids) == 2
            with trio.fail_after(30):
                async with App(bus=server.url, plane="wrk", credentials=creds) as app:
                    replies = [r async for r in app.client(Pids).multicast.pid()]
                    assert {r.value for r in replies} == pids  # both workers answered
                    seen: set[int] = set()
                    for _ in range(200):  # unicast: the queue group spreads them
                        seen.add(await app.client(Pids).pid())
                        if seen == pids:
                            break
                    assert seen == pids
        assert await run.wait() == 0
        assert "Authorization Violation" not in run.stderr
