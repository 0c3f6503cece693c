"""Fixtures for the tests that need a real nats-server (an `EmbeddedServer` on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actorbus._transport.embedded import EmbeddedServer


@pytest.fixture(scope="session")
def nats_server() -> Iterator[EmbeddedServer]:
    """One embedded nats-server shared by the session; tests that stop a server start their own."""
    server = EmbeddedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    """A private server, for tests that stop or restart it."""
    with EmbeddedServer() as srv:
        yield srv
