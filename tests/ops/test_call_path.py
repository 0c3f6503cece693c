"""``actorbus call`` goes straight to the endpoint (issue 25, items 3, 4 and 9): no hidden
describe before each call, the route of a path that serves one method found by itself, an ACL
refusal named as such, and ``--debug`` showing the handler's own traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actorbus import Actor, App, endpoint
from actorbus._transport.base import Message
from tests.cli.helpers import actorbus, actorbus_env
from tests.security.actors import Source
from tests.security.conftest import start_secure

pytestmark = [pytest.mark.nats, pytest.mark.slow]


class Members(Actor):
    hostname = "members.ops.test"

    @endpoint
    async def lookup(self, user_id: str, limit: int = 1) -> dict[str, Any]:
        return {"user_id": user_id, "limit": limit}

    @endpoint("GET /hello")
    async def hello(self, name: str = "world") -> str:
        return f"hello {name}"

    @endpoint
    async def explode(self) -> None:
        raise ValueError("deep inside the handler")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


async def test_call_sends_no_describe_unless_the_call_needs_it(nats_url: str, plane: str) -> None:
    env = actorbus_env(NATS_URL=nats_url, ACTORBUS_PLANE=plane)
    async with App(Members(), bus=nats_url, plane=plane) as app:
        control: list[str] = []

        def seen(msg: Message) -> None:
            control.append(msg.subject)

        await app.transport.subscribe(f"{plane}.888.>", seen)
        await app.transport.flush()
        for _ in range(3):
            done = await actorbus("call", "members.ops.test/lookup", "user_id=a", env=env)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout) == {"user_id": "a", "limit": 1}
        # A GET-only path needs no --method; the one describe it costs is after a 404.
        done = await actorbus("call", "members.ops.test/hello", "name=x", env=env)
        assert (done.returncode, json.loads(done.stdout)) == (0, "hello x"), done.stderr
        # user_id=5 is still the string "5" for a str parameter (typed after the 400).
        done = await actorbus("call", "members.ops.test/lookup", "user_id=5", env=env)
        assert json.loads(done.stdout) == {"user_id": "5", "limit": 1}, done.stderr
        await app.transport.flush()
        describes = [s for s in control if s.endswith(".describe")]
        assert len(describes) == 2, control  # one for /hello, one for user_id=5
        # An explicit wrong method still gets the hint, exit 3.
        done = await actorbus("call", "members.ops.test/hello", "--method", "POST", env=env)
        assert done.returncode == 3
        assert "serves GET /hello; add --method GET" in one_line(done.stderr.decode())


async def test_debug_shows_the_handlers_traceback(nats_url: str, plane: str) -> None:
    env = actorbus_env(NATS_URL=nats_url, ACTORBUS_PLANE=plane)
    async with App(Members(), bus=nats_url, plane=plane):
        done = await actorbus("call", "members.ops.test/explode", "--debug", env=env)
    err = done.stderr.decode()
    assert done.returncode == 1
    assert "remote traceback (members.ops.test):" in err
    assert 'raise ValueError("deep inside the handler")' in err


async def test_a_publish_the_acls_refuse_is_named_in_one_line(tmp_path: Path) -> None:
    secure = start_secure(tmp_path, plane="prod")
    try:
        async with App(Source(), bus=secure.url, plane="prod", credentials=secure.creds_path):
            env = actorbus_env(NATS_URL=secure.url)
            args = ("call", "source.sec/echo", "text=hi", "--credentials", str(secure.creds_path))
            done = await actorbus(*args, "--plane", "prod", env=env)
            assert (done.returncode, json.loads(done.stdout)) == (0, "hi"), done.stderr
            done = await actorbus(*args, "--plane", "forgotten", env=env)
    finally:
        secure.server.stop()
    line = one_line(done.stderr.decode())
    assert done.returncode == 5, line
    assert "refused" in line and "Permissions Violation" in line and "--plane" in line
    assert "describe" not in line and "AckTimeout" not in line
