"""``actorbus run --reload`` (issue 25): an edited file serves its new code while the supervisor
(and its embedded nats-server and tracer) stays up; a file that no longer imports leaves the
old code running, with one line saying why."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from actorbus import App, NoResponder
from actorbus._wire.frames import encode_body
from tests.cli.helpers import actorbus_env, running

pytestmark = [pytest.mark.nats, pytest.mark.slow]

SOURCE = """
from actorbus import Actor, endpoint


class Version(Actor):
    hostname = "version.reload.test"

    @endpoint
    async def which(self) -> str:
        return {value!r}
"""


async def _answer(app: App) -> str | None:
    try:
        with trio.fail_after(10):
            value = await app.caller.call(
                "version.reload.test", 443, "POST", "/which", encode_body({}),
                msgspec.msgpack.decode,
            )  # fmt: skip
    except NoResponder:  # between the old process and the new one
        return None
    return str(value)


async def _wait_for(app: App, value: str, timeout: float = 60) -> None:
    seen: list[str | None] = []
    with trio.move_on_after(timeout):
        while (got := await _answer(app)) != value:
            seen.append(got)
            await trio.sleep(0.1)  # a polling interval while the new process starts
        return
    raise AssertionError(f"never answered {value!r} in {timeout} s; saw {seen[-5:]}")


async def test_reload_serves_new_code_and_keeps_old_code_when_broken(
    tmp_path: Path, nats_url: str, plane: str
) -> None:
    module = tmp_path / "version_svc.py"
    module.write_text(SOURCE.format(value="v1"))
    args = (str(module), "--reload", "--nats", nats_url, "--plane", plane, "--grace", "2")
    with trio.fail_after(150):
        async with running(*args, env=actorbus_env()) as run, App(bus=nats_url, plane=plane) as app:
            await run.wait_stderr("--reload: watching")
            await _wait_for(app, "v1")
            supervisor = run.proc.pid
            module.write_text(SOURCE.format(value="v2"))
            await _wait_for(app, "v2")
            assert run.proc.returncode is None and run.proc.pid == supervisor

            module.write_text(SOURCE.format(value="v3").replace("class Version", "class Version("))
            await run.wait_stderr("the old code keeps running")
            assert await _answer(app) == "v2"
            lines = [line for line in run.stderr.splitlines() if "actorbus: reload:" in line]
            assert len(lines) == 1, run.stderr
            assert "version_svc.py changed but does not load" in lines[0]
            assert "SyntaxError" in lines[0]
