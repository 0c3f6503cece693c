"""Reconnect rules against a real nats-server: ``max_subscriptions`` refuses a subscription
without a reconnect storm (``app.add`` fails in one line, the App keeps serving), and a
password changed and reloaded ends the connection with one clear error instead of retrying
for ever. Each test is bounded in time."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
import trio

from actorbus import Actor, App, BusError, endpoint
from actorbus._transport.embedded import EmbeddedServer

pytestmark = pytest.mark.nats


def numbered(i: int) -> Actor:
    class Numbered(Actor):
        hostname = f"n{i}.example"

        @endpoint
        async def number(self) -> int:
            return i

    return Numbered()


async def test_max_subscriptions_refuses_without_a_reconnect_storm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "max.conf"
    conf.write_text("max_subscriptions: 24\n")  # an App and its first actor take about 21
    with EmbeddedServer(extra_args=["-c", str(conf)]) as srv:
        with trio.fail_after(30):
            async with App(bus=srv.url) as app:
                first = await app.add(numbered(0))
                with pytest.raises(BusError, match="maximum subscriptions exceeded") as info:
                    for i in range(1, 20):
                        await app.add(numbered(i))
                assert "\n" not in str(info.value)
                assert info.value.message.startswith("cannot start n")
                assert app.transport.statistics()["reconnects"] == 0
                assert app.transport.connected
                assert await app.client(type(first)).number() == 0
                assert app.actors == [first]
    refused = [
        r.getMessage()
        for r in caplog.records
        if r.name == "actorbus.nats" and "maximum subscriptions" in r.getMessage()
    ]
    assert len(refused) == 1, refused  # the client: one line for the burst of refusals


async def test_a_changed_password_ends_in_one_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "auth.conf"
    conf.write_text('authorization { user: "u", password: "old-secret" }\n')
    with EmbeddedServer(extra_args=["-c", str(conf)]) as srv:
        url = f"nats://u:old-secret@127.0.0.1:{srv.port}"
        with trio.fail_after(30), pytest.raises(BusError) as info:
            async with App(numbered(0), bus=url) as app:
                await app.transport.flush()
                conf.write_text('authorization { user: "u", password: "new-secret" }\n')
                assert srv.pid is not None
                os.kill(srv.pid, signal.SIGHUP)  # nats-server: reload the configuration
                await trio.sleep_forever()  # the App ends the block when the bus gives up
    message = str(info.value)
    assert "\n" not in message and "old-secret" not in message
    assert "refused the credentials twice in a row" in message
    assert "Authorization Violation" in message
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "NATS" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in errors]


@pytest.mark.slow
async def test_actorbus_run_exits_5_when_the_password_changes(tmp_path: Path) -> None:
    from ..cli.helpers import actorbus_env, running

    actors = str(Path(__file__).parents[1] / "security" / "pid_actors.py")
    conf = tmp_path / "auth.conf"
    conf.write_text('authorization { user: "u", password: "old-secret" }\n')
    with EmbeddedServer(extra_args=["-c", str(conf)]) as srv:
        env = actorbus_env(NATS_URL=f"nats://u:old-secret@127.0.0.1:{srv.port}")
        async with running(actors, env=env) as run:
            conf.write_text('authorization { user: "u", password: "new-secret" }\n')
            assert srv.pid is not None
            os.kill(srv.pid, signal.SIGHUP)
            assert await run.wait() == 5
    last = run.stderr.strip().splitlines()[-1]
    assert "refused the credentials twice in a row" in last, run.stderr
    assert "old-secret" not in run.stderr + "\n".join(run.stdout)
