"""Secrets rotated under running actors (``actorbus acl`` again, then a server reload): every
connection of the App ends with the same one-line `BusError`, not a silent retry for ever and
not a group of raw transport errors."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
import trio

from actorbus import App, BusError
from actorbus._app import random_plane
from actorbus._cli.acl import generate

from .actors import Other, Sink, Source
from .conftest import start_secure

pytestmark = pytest.mark.nats


async def test_rotated_secrets_end_every_connection_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = start_secure(tmp_path)
    try:
        with trio.fail_after(60), pytest.raises(BusError) as info:
            async with App(
                Source(), Sink(), bus=bus.url, plane=random_plane(), credentials=bus.creds_path
            ) as app:
                assert await app.client(Source).fire(n=1) == [2]
                assert len({id(h) for h in app._hubs.values()} | {id(app.hub)}) == 3
                generate([Source, Sink, Other], str(bus.conf), str(tmp_path / "new.json"))
                assert bus.server.pid is not None
                os.kill(bus.server.pid, signal.SIGHUP)  # nats-server: reload the config
                await trio.sleep_forever()  # the App ends the block when the bus gives up
    finally:
        bus.server.stop()
    message = str(info.value)
    assert "\n" not in message
    assert "refused the credentials twice in a row" in message
    assert not [s for ident in bus.creds.hosts.values() for s in ident.secrets if s in message]
    gave_up = [
        r for r in caplog.records if r.levelno >= logging.ERROR and "gave up" in r.getMessage()
    ]
    assert 1 <= len(gave_up) <= 3  # one line per connection at most
