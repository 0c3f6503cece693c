"""``actorbus call`` on a bus it cannot reach: one line, exit code 5, no traceback."""

from __future__ import annotations

import socket

import pytest

from .helpers import actorbus

pytestmark = pytest.mark.slow


async def test_call_on_an_unreachable_bus_is_one_line_and_exit_5() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{sock.getsockname()[1]}"
        done = await actorbus("call", "x.test/y", "--nats", url)
    assert done.returncode == 5, done.stderr
    lines = done.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("actorbus: ") and url in lines[-1]
    assert not any("Traceback" in line for line in lines)
