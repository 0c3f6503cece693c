"""An actor with durable sinks that starts and stops again and again (``--reload`` does that)
leaves no subscription behind on its connection."""

from __future__ import annotations

import json
import urllib.request

import pytest
import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer
from tests.security.conftest import free_port

from .actors import Files

pytestmark = pytest.mark.nats


async def _subscriptions(monitor: int) -> int:
    def fetch() -> int:
        url = f"http://127.0.0.1:{monitor}/connz?subs=1"
        with urllib.request.urlopen(url, timeout=10) as answer:
            data = json.load(answer)
        return sum(int(c.get("subscriptions", 0)) for c in data["connections"])

    return await trio.to_thread.run_sync(fetch)


async def test_restarting_a_durable_sink_leaves_no_subscription() -> None:
    monitor = free_port()
    with EmbeddedServer(extra_args=["-m", str(monitor)]) as server:
        with trio.fail_after(60):
            async with App(bus=server.url) as app:
                counts = []
                for _ in range(4):
                    files = await app.add(Files())
                    await app.remove(files)
                    await app.transport.flush()
                    counts.append(await _subscriptions(monitor))
    assert len(set(counts)) == 1, counts  # each restart left exactly what it found
