"""A second ``actorbus run`` with no ``--nats`` gets its own embedded server (issue 25, item 1):
one warning line naming its URL, and it keeps running when the first run stops."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.cli.helpers import ACTORS, actorbus_env, ping, running

pytestmark = [pytest.mark.nats, pytest.mark.slow]


def _bus(ready_line: str) -> str:
    return ready_line.split(" on ", 1)[1].split(" ", 1)[0]


async def test_second_run_has_its_own_server_and_survives_the_first(
    plane: str, tmp_path: Path
) -> None:
    env = actorbus_env(ACTORBUS_STATE_DIR=str(tmp_path))
    args = ("--plane", plane, "--trace-ws", "off")
    async with running(ACTORS + ":Slow", *args, env=env) as first:
        first_bus = _bus(await first.wait_stdout("actorbus ready"))
        async with running(ACTORS + ":Slow", *args, env=env) as second:
            second_bus = _bus(await second.wait_stdout("actorbus ready"))
            assert second_bus != first_bus
            warnings = [line for line in second.stderr.splitlines() if "WARNING" in line]
            assert len(warnings) == 1, second.stderr
            assert f"own embedded nats-server on {second_bus}" in warnings[0]
            first.signal(signal.SIGTERM)
            assert await first.wait() == 0
            infos = await ping(second_bus, plane)
            assert [i["host"] for i in infos] == ["slow.cli.test"]
            assert "reconnecting" not in second.stderr.lower()
