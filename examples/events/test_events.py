"""The events scenario on both buses; adding a sink needs no change to `Users`."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from actorbus import Actor, App, RemoteError, sink

from .main import main
from .sinks import CreditCards, Files, Groups
from .users import Users


async def test_delete_user_gathers_every_sink(bus: str, plane: str) -> None:
    async with App(Users(), Files(), CreditCards(), Groups(), bus=bus, plane=plane) as app:
        users = app.client(Users)
        reg = await users.register(email="ada@example.com")
        assert reg.user_id == "u1" and reg.vetoed_by == []
        assert await users.delete_user(user_id="u1") == {
            "creditcards.example": 1,
            "files.example": 2,
            "groups.example": 1,
        }
        with pytest.raises(RemoteError) as info:
            await users.delete_user(user_id="u1")
        assert info.value.status == 404


async def test_a_sink_can_veto_registration(bus: str, plane: str) -> None:
    async with App(Users(), Groups(), bus=bus, plane=plane) as app:
        reg = await app.client(Users).register(email="spam@mailinator.com")
        assert reg.user_id is None
        assert reg.vetoed_by == ["groups.example"]


class Audit(Actor):
    """A new service: it subscribes to the source's event; `Users` is not touched."""

    hostname = "audit.example"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[str] = []
        self.logged = trio.Event()

    @sink(Users.on_user_deleted)
    async def record(self, user_id: str) -> int:
        self.log.append(user_id)
        self.logged.set()
        return 0


async def test_adding_a_sink_needs_no_change_to_the_source(bus: str, plane: str) -> None:
    audit = Audit()
    async with App(Users(), Files(), bus=bus, plane=plane) as app:
        await app.client(Users).register(email="a@example.com")
        before = await app.client(Users).delete_user(user_id="u1")
        assert set(before) == {"files.example"}
        await app.add(audit)  # deployed later, while everything runs
        await app.client(Users).register(email="b@example.com")
        after = await app.client(Users).delete_user(user_id="u2")
        assert set(after) == {"files.example", "audit.example"}
        assert audit.log == ["u2"]


async def test_the_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    await main(bus="memory")
    out = capsys.readouterr().out
    assert "register bot@mailinator.com: vetoed by groups.example" in out
    assert "creditcards.example    purged 1 record(s)" in out


@pytest.mark.nats
@pytest.mark.slow
def test_the_demo_command_exits_0_on_an_embedded_server() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "examples.events"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "files.example          purged 2 record(s)" in done.stdout
