"""Depending on APIs across processes: the users implementation runs in one ``actorbus run``,
the sinks in another where it cannot even be imported, and this process calls and sinks through
``UsersApi`` only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from actorbus import Actor, App, sink
from examples.events.users_api import Registration, UsersApi

from .helpers import actorbus_env, running, wait_for_ping

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = "examples.events.users"

#: ``actorbus run`` with the users implementation made unimportable (a meta path blocker).
SINKS_WITHOUT_USERS = f"""
import sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == {BLOCKED!r}:
            raise ImportError(name + " is blocked: this process may depend on its API only")
        return None

sys.meta_path.insert(0, Blocker())
from actorbus._cli.main import main
code = main(sys.argv[1:])
assert {BLOCKED!r} not in sys.modules
sys.exit(code)
"""


class Audit(Actor):
    """A sink in this process, on the API's event; the implementation runs elsewhere."""

    hostname = "audit.example"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[str] = []

    @sink(UsersApi.on_user_deleted)
    async def record(self, user_id: str) -> int:
        self.seen.append(user_id)
        return 0


async def test_sinks_without_the_implementation_get_every_event(nats_url: str, plane: str) -> None:
    env = actorbus_env(PYTHONPATH=str(ROOT))
    bus = ("--nats", nats_url, "--plane", plane, "--trace-ws", "off")
    sinks = running(
        "run",
        "examples.events.sinks",
        *bus,
        env=env,
        command=(sys.executable, "-c", SINKS_WITHOUT_USERS),
    )
    async with (
        running("examples.events.users", *bus, env=env),
        sinks,
    ):
        hosts = {"users.example", "files.example", "creditcards.example", "groups.example"}
        await wait_for_ping(nats_url, plane, lambda infos: {i["host"] for i in infos} >= hosts)
        audit = Audit()
        async with App(audit, bus=nats_url, plane=plane) as app:
            users = app.client(UsersApi)
            with trio.fail_after(20):
                reg = await users.register(email="ada@example.com")
                assert reg == Registration("ada@example.com", "u1", [])
                spam = await users.register(email="bot@mailinator.com")
                assert spam.vetoed_by == ["groups.example"]
                purged = await users.delete_user(user_id="u1")
        assert purged == {
            "audit.example": 0,
            "creditcards.example": 1,
            "files.example": 2,
            "groups.example": 1,
        }
        assert audit.seen == ["u1"]


def test_the_blocker_does_block() -> None:
    """The guard above can fail: a process that imports the implementation is refused."""
    import subprocess

    script = SINKS_WITHOUT_USERS.replace(
        "from actorbus._cli.main", "import examples.events.users\nfrom actorbus._cli.main"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=actorbus_env(PYTHONPATH=str(ROOT)),
    )
    assert done.returncode != 0
    assert "is blocked: this process may depend on its API only" in done.stderr
