"""Config sources and JSON logs through ``actorbus run``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .helpers import ACTORS, actorbus, actorbus_env, run_args, running

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_config_from_file_and_environment(nats_url: str, plane: str, tmp_path: Any) -> None:
    conf = tmp_path / "conf.toml"
    conf.write_text('["slow.cli.test"]\ngreeting = "hi"\ntimes = 1\n')
    env = actorbus_env(ACTORBUS_SLOW_CLI_TEST__TIMES="2")
    args = run_args(nats_url, plane, "--config", str(conf), target=ACTORS + ":Slow")
    async with running(*args, env=env):
        done = await actorbus(
            "call", "slow.cli.test/hello", "name=x", "--nats", nats_url, "--plane", plane
        )
        assert json.loads(done.stdout) == "hi x, hi x"


async def test_bad_config_stops_start_up_naming_actor_and_key(nats_url: str, plane: str) -> None:
    env = actorbus_env(ACTORBUS_SLOW_CLI_TEST__TIMES="many")
    done = await actorbus("run", *run_args(nats_url, plane, target=ACTORS + ":Slow"), env=env)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "Slow (slow.cli.test)" in err and "'times'" in err
    assert "ACTORBUS_SLOW_CLI_TEST__TIMES" in err and "int" in err


async def test_json_logs_carry_host_instance_and_message_id(nats_url: str, plane: str) -> None:
    args = run_args(nats_url, plane, "--log-format", "json", target=ACTORS + ":Slow")
    async with running(*args) as run:
        done = await actorbus(
            "call", "slow.cli.test/hello", "name=log", "--nats", nats_url, "--plane", plane
        )
        assert done.returncode == 0
        await run.wait_stderr("hello called")
    records = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
    started = next(r for r in records if "started (instance" in r["message"])
    assert started["host"] == "slow.cli.test" and started["instance"] in started["message"]
    handled = next(r for r in records if r["message"] == "hello called for log")
    assert handled["host"] == "slow.cli.test"
    assert handled["msg_id"] and handled["from_host"] == "cli.actorbus"
    assert {"time", "level", "logger", "pid"} <= handled.keys()


async def test_bad_targets_and_usage(tmp_path: Any) -> None:
    done = await actorbus("run", "no_such_module_xyz")
    assert done.returncode == 2 and b"no_such_module_xyz" in done.stderr
    done = await actorbus("run", f"{ACTORS}:Nope")
    assert done.returncode == 2 and b"Nope" in done.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    done = await actorbus("run", str(empty))
    assert done.returncode == 2 and b"defines no Actor" in done.stderr
    done = await actorbus("call", "no-path-here")
    assert done.returncode == 2
    done = await actorbus("call", "h.example/x", "novalue")
    assert done.returncode == 2 and b"key=value" in done.stderr
