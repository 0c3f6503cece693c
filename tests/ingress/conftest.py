"""``actorbus run tests/ingress/web_actors.py --http 127.0.0.1:0`` on the session's nats-server,
and an httpx client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.cli.helpers import Running, actorbus_env, running

ACTORS = str(Path(__file__).with_name("web_actors.py"))
_LISTENING = re.compile(r"HTTP ingress on (http://\S+)")


@dataclass
class Served:
    run: Running
    url: str
    client: httpx.AsyncClient


async def ingress_url(run: Running) -> str:
    """The ingress's URL from its log line (``--http HOST:0`` picks a free port)."""
    await run.wait_stderr("HTTP ingress on")
    found = _LISTENING.search(run.stderr)
    assert found, run.stderr
    return found[1]


@asynccontextmanager
async def served(
    nats_url: str, plane: str, *extra: str, targets: Sequence[str] = (ACTORS,)
) -> AsyncIterator[Served]:
    """``actorbus run TARGETS --http 127.0.0.1:0 EXTRA`` and a client for its ingress."""
    args = (*targets, "--nats", nats_url, "--plane", plane, "--trace-ws", "off")
    async with running(*args, "--http", "127.0.0.1:0", *extra, env=actorbus_env()) as run:
        url = await ingress_url(run)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Served(run, url, client)
