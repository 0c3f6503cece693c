"""First contact with the command line: every error is one ``actorbus: ...`` line with its exit
code (a traceback only with --debug), and ``call`` and ``describe`` know the endpoints."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import trio

from actorbus import Actor, App, endpoint
from actorbus._cli.common import EXIT_BUS, CliError, probe_bus
from actorbus._cli.main import main
from actorbus._transport.embedded import open_embedded

from .helpers import actorbus, actorbus_env


def unused_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("actorbus: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("ACTORBUS_DEBUG", raising=False)
    monkeypatch.delenv("ACTORBUS_PLANE", raising=False)


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["call", "a.example/x", "--timeout", "abc"], {}, "--timeout: expected a number of"),
        (["call", "host:abc/x"], {}, "the port must be a number 1..65535, got 'abc'"),
        (["call", "Bad_Host!/x"], {}, "invalid hostname 'Bad_Host!'"),
        (["call", "Users.Example/x"], {}, "use lower case"),
        (["call", "a.example/x", "--nats", "localhost:4222"], {}, "did you mean nats://localhost"),
        (["ping"], {"NATS_URL": "garbage"}, "NATS_URL 'garbage' is not a NATS URL"),
        (["describe", "--nats", "nats://h:x"], {}, "the port is not a number"),
        (["ping", "--nats", "nats://h:99999"], {}, "the port must be 1..65535, got 99999"),
        (["call", "a.example/x", "novalue"], {}, "expected key=value"),
        (["ping", "--plane", "a.b"], {}, "invalid plane"),
        (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
        (["run", "--replicas", "x", "m"], {}, "--replicas: expected a whole number"),
        (["call", "a.example/x", "--port", "99999"], {}, "expected a port number"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str],
    env: dict[str, str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(argv) == 2
    assert needle in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["call a.example/x", "ping", "describe", "describe a.example"])
def test_no_server_exits_5_from_the_probe(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The probe's own line (not the NATS client's connect bound) answers a refused port."""
    url = f"nats://127.0.0.1:{unused_port()}"
    code = main([*command.split(), "--nats", url])
    assert code == 5
    line = one_line(capsys.readouterr().err)
    assert f"cannot reach the bus at {url}" in line and "refused" in line.lower()
    assert "is nats-server running?" in line  # probe_bus's wording


async def test_the_probe_answers_a_refused_port_without_waiting(
    autojump_clock: trio.abc.Clock,
) -> None:
    """On the autojump clock any sleep, retry or timeout would move the time: none does."""
    url = f"nats://127.0.0.1:{unused_port()}"
    start = trio.current_time()
    with pytest.raises(CliError) as info:
        await probe_bus(url)
    assert trio.current_time() == start
    assert info.value.code == EXIT_BUS
    assert "refused" in str(info.value).lower()


def test_trace_without_a_tracer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", f"ws://127.0.0.1:{unused_port()}"]) == 5
    assert "no live tracer answers" in one_line(capsys.readouterr().err)


def test_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"nats://127.0.0.1:{unused_port()}"
    assert main(["ping", "--nats", url, "--debug"]) == 5
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("actorbus: cannot reach the bus")
    monkeypatch.setenv("ACTORBUS_DEBUG", "1")
    assert main(["ping", "--nats", url]) == 5
    assert "Traceback" in capsys.readouterr().err


BAD_MODULES = {
    "badhost.py": (
        "from actorbus import Actor\nclass Bad(Actor):\n    hostname = 'Bad_Host!'\n",
        "badhost.py:2: Bad: invalid hostname 'Bad_Host!'",
    ),
    "upper.py": (
        "from actorbus import Actor\nclass Up(Actor):\n    hostname = 'Upper.Example'\n",
        "upper.py:2: Up: invalid hostname 'Upper.Example': use lower case",
    ),
    "syntax.py": ("from actorbus import Actor\nclass X(Actor)\n", "syntax.py:2: SyntaxError"),
    "raises.py": ("import json\nx = 1 / 0\n", "raises.py:2: ZeroDivisionError: division by zero"),
    "typo.py": (
        "from actorbus import Actor, endpoint\nclass T(Actor):\n    hostname = 't.example'\n"
        "    @endpoint\n    async def f(self, x: 'Strr') -> str: ...\n",
        "T.f: parameter 'x': type hint 'Strr' cannot be resolved",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD_MODULES))
async def test_run_reports_the_users_module_in_one_line(tmp_path: Path, name: str) -> None:
    source, needle = BAD_MODULES[name]
    (tmp_path / name).write_text(source)
    done = await actorbus("run", str(tmp_path / name), "--nats", "nats://127.0.0.1:1")
    assert done.returncode == 2, done.stderr
    assert needle in one_line(done.stderr.decode())


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "tracer"])
async def test_run_and_tracer_without_a_server(command: str) -> None:
    url = f"nats://127.0.0.1:{unused_port()}"
    args = ["run", str(Path(__file__).parent / "cli_actors.py")] if command == "run" else [command]
    done = await actorbus(*args, "--nats", url)
    assert done.returncode == 5, done.stderr
    assert f"cannot reach the bus at {url}" in one_line(done.stderr.decode())


@pytest.mark.slow
@pytest.mark.nats
async def test_wrong_password_is_one_line() -> None:
    async with open_embedded(extra_args=["--user", "alice", "--pass", "s3cret"]) as srv:
        bad = f"nats://alice:wrong@127.0.0.1:{srv.port}"
        for args in (["ping"], ["run", str(Path(__file__).parent / "cli_actors.py")]):
            done = await actorbus(*args, "--nats", bad)
            assert done.returncode == 5, done.stderr
            line = one_line(done.stderr.decode())
            assert "authorization" in line.lower() and "wrong" not in line


class Members(Actor):
    """Member records, for the schema-aware CLI tests."""

    hostname = "members.cli.test"

    @endpoint
    async def lookup(self, user_id: str, limit: int = 1) -> dict[str, Any]:
        """Finds a member by id."""
        return {"user_id": user_id, "limit": limit}

    @endpoint("GET /hello")
    async def hello(self, name: str = "world") -> str:
        return f"hello {name}"


@pytest.mark.slow
@pytest.mark.nats
async def test_call_and_describe_use_the_schema(nats_url: str, plane: str) -> None:
    env = actorbus_env(NATS_URL=nats_url, ACTORBUS_PLANE=plane)

    async def cli(*args: str) -> tuple[int, str, str]:
        done = await actorbus(*args, env=env)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    async with App(Members(), bus=nats_url, plane=plane):
        # user_id=5 is the string "5" for a str parameter; key=value may follow options.
        code, out, err = await cli(
            "call", "members.cli.test/lookup", "--timeout", "10", "user_id=5", "limit=3"
        )
        assert code == 0, err
        assert json.loads(out) == {"user_id": "5", "limit": 3}

        code, out, err = await cli("call", "members.cli.test/hello")  # its one route: GET
        assert (code, json.loads(out)) == (0, "hello world"), err
        code, out, err = await cli("call", "members.cli.test/hello", "--method", "POST")
        assert code == 3
        assert "members.cli.test serves GET /hello; add --method GET" in one_line(err)
        code, out, err = await cli("call", "members.cli.test/hello", "--method", "GET", "name=x")
        assert (code, json.loads(out)) == (0, "hello x"), err

        code, out, err = await cli("call", "members.cli.test:444/lookup", "user_id=a")
        assert code == 3 and "add --port 443" in one_line(err)

        code, out, err = await cli("call", "members.cli.test/lokup", "user_id=a")
        assert code == 3
        assert "it serves: POST /lookup, GET /hello" in one_line(err)

        code, out, err = await cli("call", "members.cli.test:888/ping", "--method", "GET")
        assert code == 0 and json.loads(out)["host"] == "members.cli.test", err

        code, out, err = await cli("call", "nobody.cli.test/x")
        assert code == 3 and "no actor answers on nobody.cli.test" in one_line(err)

        code, out, err = await cli("describe", "members.cli.test", "--json")
        assert code == 0, err
        (desc,) = json.loads(out)
        handlers = {h["name"]: h for h in desc["handlers"]}
        lookup = handlers["lookup"]
        assert (lookup["method"], lookup["port"], lookup["path"]) == ("POST", 443, "/lookup")
        assert lookup["doc"] == "Finds a member by id."
        assert lookup["arguments"]["properties"] == {
            "user_id": {"type": "string"},
            "limit": {"type": "integer", "default": 1},
        }
        assert lookup["arguments"]["required"] == ["user_id"]
        assert lookup["returns"]["type"] == "object"
        assert handlers["hello"]["method"] == "GET"

        code, out, err = await cli("describe")
        assert code == 0, err
        assert "members.cli.test" in out and "Member records" in out
        assert "lookup(user_id: string, limit: integer = 1) -> object" in out
