"""A real nats-server started with the config that ``actorbus acl`` derives from the actors."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from actorbus._cli.acl import generate
from actorbus._transport.credentials import Credentials
from actorbus._transport.embedded import EmbeddedServer

from .actors import Other, Sink, Source


@dataclass
class SecureBus:
    """A server enforcing the generated permissions, and the files it was made from."""

    url: str
    conf: Path
    creds_path: Path
    creds: Credentials
    server: EmbeddedServer
    monitor: int

    async def connections(self) -> dict[str, str]:
        """Connection name → the user the server authenticated it as (from ``/connz``)."""

        def fetch() -> dict[str, str]:
            url = f"http://127.0.0.1:{self.monitor}/connz?auth=true"
            with urllib.request.urlopen(url, timeout=10) as response:
                data = json.load(response)
            return {c.get("name", ""): c.get("authorized_user", "") for c in data["connections"]}

        return await trio.to_thread.run_sync(fetch)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_secure(tmp: Path, *, nkeys: bool = False, plane: str | None = None) -> SecureBus:
    conf, creds_path = tmp / "auth.conf", tmp / "creds.json"
    _, creds = generate([Source, Sink, Other], str(conf), str(creds_path), nkeys=nkeys, plane=plane)
    monitor = free_port()
    server = EmbeddedServer(extra_args=["-c", str(conf), "-m", str(monitor)])
    server.start()
    return SecureBus(server.url, conf, creds_path, creds, server, monitor)


@pytest.fixture(scope="module")
def secure_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBus]:
    bus = start_secure(tmp_path_factory.mktemp("acl"))
    try:
        yield bus
    finally:
        bus.server.stop()


class Refusals(logging.Handler):
    """Collects log records about refused operations and wakes a waiting task on each."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "violation" in record.getMessage().lower():
            self.records.append(record)
            self._changed.set()
            self._changed = trio.Event()

    def texts(self) -> list[str]:
        return [r.getMessage() for r in self.records]

    async def wait_for(self, *needles: str) -> str:
        """The first refusal naming every needle, ignoring case (a client may lower-case the
        server's message); bounded by the caller's cancel scope."""
        while True:
            for text in self.texts():
                if all(n.lower() in text.lower() for n in needles):
                    return text
            await self._changed.wait()


@pytest.fixture
def refusals() -> Iterator[Refusals]:
    handler = Refusals()
    root = logging.getLogger("actorbus")
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
