"""``actorbus run --health``: /healthz while the process lives, /readyz 200 only while connected
with every actor started, 503 while disconnected or draining (issue 25)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import msgspec
import pytest
import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer
from actorbus._wire.frames import encode_body
from tests.cli.helpers import run_args, running
from tests.ops.httpget import get, wait_status

pytestmark = [pytest.mark.nats, pytest.mark.slow]


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


def _port(stderr: str) -> int:
    found = re.search(r"health probes on http://127\.0\.0\.1:(\d+)/healthz", stderr)
    assert found, stderr
    return int(found.group(1))


@pytest.mark.parametrize("workers", [None, 1])
async def test_probes_follow_the_bus_and_the_drain(
    server: EmbeddedServer, plane: str, workers: int | None
) -> None:
    extra = ("--workers", str(workers)) if workers else ()
    args = run_args(server.url, plane, "--health", "127.0.0.1:0", "--grace", "20", *extra)
    with trio.fail_after(120):
        async with running(*args) as run:
            port = _port(run.stderr)
            assert await get(port, "/healthz") == (200, "ok\n")
            assert await wait_status(port, "/readyz", 200) == "ready\n"
            assert (await get(port, "/nope"))[0] == 404

            await trio.to_thread.run_sync(lambda: server.stop(kill=True))
            body = await wait_status(port, "/readyz", 503)
            assert "disconnected from the bus" in body
            assert await get(port, "/healthz") == (200, "ok\n")  # alive all the same
            await trio.to_thread.run_sync(server.start)
            await wait_status(port, "/readyz", 200)

            if workers:  # the drain is the supervisor's own in the in-process case
                run.signal(signal.SIGTERM)
                assert await run.wait() == 0
                return
            async with App(bus=server.url, plane=plane) as app, trio.open_nursery() as nursery:

                async def nap() -> None:
                    body = encode_body({"seconds": 8.0, "tag": 7})  # the drain lasts that long
                    await app.caller.call(
                        "slow.cli.test", 443, "POST", "/nap", body, msgspec.msgpack.decode
                    )

                nursery.start_soon(nap)
                await run.wait_stderr("nap 7 started")
                run.signal(signal.SIGTERM)
                assert "draining" in await wait_status(port, "/readyz", 503)
            assert await run.wait() == 0
