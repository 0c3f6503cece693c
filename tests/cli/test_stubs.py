"""``actorbus stubs`` against the events example run by ``actorbus run``: the written module is
imported in a fresh process and used as a client and as a sink; ``--check`` passes, then fails
with one line per drift once the module no longer matches."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

from .helpers import actorbus, actorbus_env, running, wait_for_ping

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOSTS = {"users.example", "files.example", "creditcards.example", "groups.example"}

#: A fresh process that knows the users service only through the written module.
USE_THE_STUB = """
import json, sys
import trio
from actorbus import Actor, App, sink
from users_stub import UsersExampleApi

class Audit(Actor):
    hostname = "audit.example"
    seen: list[str] = []

    @sink(UsersExampleApi.on_user_deleted)
    async def record(self, user_id: str) -> int:
        Audit.seen.append(user_id)
        return 0

async def main(url: str, plane: str) -> None:
    async with App(Audit(), bus=url, plane=plane) as app:
        users = app.client(UsersExampleApi)
        reg = await users.register(email="ada@example.com")
        purged = await users.delete_user(user_id=reg.user_id)
        print(json.dumps({"type": type(reg).__name__, "purged": purged, "seen": Audit.seen}))

assert "examples.events.users" not in sys.modules
trio.run(main, *sys.argv[1:])
"""


async def test_stubs_written_used_and_checked(nats_url: str, plane: str, tmp_path: Path) -> None:
    bus = ("--nats", nats_url, "--plane", plane)
    env = actorbus_env(PYTHONPATH=str(ROOT))
    async with running("examples/events", *bus, "--trace-ws", "off", env=env):
        await wait_for_ping(nats_url, plane, lambda infos: {i["host"] for i in infos} >= HOSTS)
        stub = tmp_path / "users_stub.py"
        done = await actorbus("stubs", "users.example", "--out", str(stub), *bus, env=env)
        assert done.returncode == 0, done.stderr.decode()
        assert b"wrote" in done.stdout
        source = stub.read_text()
        assert "class UsersExampleApi(Api):" in source and "class Registration(" in source
        assert '"""Told after a user was deleted; each sink answers how many' in source

        with trio.fail_after(60):
            used = await trio.run_process(
                [sys.executable, "-c", USE_THE_STUB, nats_url, plane],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                cwd=str(tmp_path),
                env=actorbus_env(PYTHONPATH=str(tmp_path)),
            )
        assert used.returncode == 0, used.stderr.decode()
        assert json.loads(used.stdout) == {
            "type": "Registration",
            "purged": {
                "audit.example": 0,
                "creditcards.example": 1,
                "files.example": 2,
                "groups.example": 1,
            },
            "seen": ["u1"],
        }

        done = await actorbus("stubs", "--check", str(stub), *bus, env=env)
        assert done.returncode == 0, done.stderr.decode()
        assert b"matches the running users.example" in done.stdout

        changed = source.replace(
            "async def delete_user(self, user_id: str)", "async def delete_user(self, user_id: int)"
        ).replace(
            "    @endpoint\n    async def register(",
            '    @endpoint("PUT /register")\n    async def register(',
        )
        assert changed != source
        stub.write_text(changed)
        done = await actorbus("stubs", "--check", str(stub), *bus, env=env)
        assert done.returncode == 1
        lines = done.stdout.decode().splitlines()
        assert lines == [
            "users.example: register: "
            f"{stub} has endpoint PUT :443/register, the host serves endpoint POST :443/register",
            f"users.example: delete_user: argument 'user_id': integer in {stub}, string on the bus",
        ]
        err = done.stderr.decode()
        assert err.count("\n") == 1 and "differs from the running hosts in 2 places" in err


async def test_stubs_errors_are_one_line(nats_url: str, plane: str, tmp_path: Path) -> None:
    bus = ("--nats", nats_url, "--plane", plane)
    done = await actorbus("stubs", "nobody.example", *bus)
    assert done.returncode == 3
    assert done.stderr.decode().startswith("actorbus: stubs: no actor answers on nobody.example")
    done = await actorbus("stubs", *bus)
    assert done.returncode == 2 and b"name at least one HOST" in done.stderr
    done = await actorbus("stubs", "Bad_Host", *bus)
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1
    plain = tmp_path / "plain.py"
    plain.write_text("X = 1\n")
    done = await actorbus("stubs", "--check", str(plain), *bus)
    assert done.returncode == 2 and b"defines no Api class" in done.stderr
    done = await actorbus("stubs", "--check", str(tmp_path / "missing.py"), *bus)
    assert done.returncode == 2 and b"no such file" in done.stderr


CALC = '''
import msgspec
from actorbus import Actor, endpoint


class Vector(msgspec.Struct):
    """Two numbers."""

    x: float
    y: float


class Calc(Actor):
    """Adds things."""

    hostname = "calc.accept"

    @endpoint
    async def add(self, a: int, b: int) -> int:
        """a + b."""
        return a + b

    @endpoint("POST /vectors/sum", port=444)
    async def vector_sum(self, vectors: list[Vector]) -> Vector:
        return Vector(sum(v.x for v in vectors), sum(v.y for v in vectors))
'''

USE_CALC = """
import sys
import trio
from actorbus import App
from calc_api import CalcAcceptApi, Vector

async def main(url: str, plane: str) -> None:
    async with App(bus=url, plane=plane) as app:
        calc = app.client(CalcAcceptApi)
        assert await calc.add(a=2, b=3) == 5
        total = await calc.vector_sum(vectors=[Vector(1, 2), Vector(3, 4)])
        assert total == Vector(4.0, 6.0), total
        print("ok")

trio.run(main, *sys.argv[1:])
"""


async def test_check_fails_once_the_running_endpoint_changes(
    nats_url: str, plane: str, tmp_path: Path
) -> None:
    bus = ("--nats", nats_url, "--plane", plane)
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    (tmp_path / "v1" / "calc.py").write_text(CALC)
    changed = CALC.replace("a: int, b: int) -> int:", "a: int, b: int, c: int = 0) -> int:")
    (tmp_path / "v2" / "calc.py").write_text(changed.replace("port=444", "port=445"))
    stub = tmp_path / "calc_api.py"
    ready = lambda infos: any(i["host"] == "calc.accept" for i in infos)  # noqa: E731

    async with running(str(tmp_path / "v1" / "calc.py"), *bus, "--trace-ws", "off"):
        await wait_for_ping(nats_url, plane, ready)
        done = await actorbus("stubs", "calc.accept", "--out", str(stub), *bus)
        assert done.returncode == 0, done.stderr.decode()
        assert "class CalcAcceptApi(Api):" in stub.read_text()
        with trio.fail_after(60):
            used = await trio.run_process(
                [sys.executable, "-c", USE_CALC, nats_url, plane],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=actorbus_env(PYTHONPATH=str(tmp_path)),
            )
        assert used.returncode == 0 and used.stdout == b"ok\n", used.stderr.decode()
        done = await actorbus("stubs", "--check", str(stub), *bus)
        assert done.returncode == 0, done.stderr.decode()

    async with running(str(tmp_path / "v2" / "calc.py"), *bus, "--trace-ws", "off"):
        await wait_for_ping(nats_url, plane, ready)
        done = await actorbus("stubs", "--check", str(stub), *bus)
    assert done.returncode == 1, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [
        f"calc.accept: add: arguments ['a', 'b'] in {stub}, ['a', 'b', 'c'] on the bus",
        f"calc.accept: vector_sum: {stub} has endpoint POST :444/vectors/sum, the host serves "
        "endpoint POST :445/vectors/sum",
    ]
