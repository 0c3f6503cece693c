"""Fixtures for the tests that need a real nats-server (an `EmbeddedServer` on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

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


@pytest.fixture(params=["native", "nats-py"])
def client(request: pytest.FixtureRequest) -> str:
    """Which NATS client a test runs on: the Trio-native default or the nats-py option."""
    name: str = request.param
    return name


def open_client(
    client: str, url: str | None = None, **kwargs: Any
) -> AbstractAsyncContextManager[Any]:
    """The client's ``open_*`` context manager (native: `open_native`, else `open_natspy`)."""
    if client == "native":
        from actorbus._transport.native import open_native

        return open_native(url, **kwargs)
    from actorbus._transport.natspy import open_natspy

    return open_natspy(url, **kwargs)


@pytest.fixture(params=["native", "nats-py"])
def any_nats_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a runtime test once per NATS client, through ``ACTORBUS_NATS_CLIENT`` (inherited
    by the subprocesses a test starts)."""
    name: str = request.param
    monkeypatch.setenv("ACTORBUS_NATS_CLIENT", name)
    return name
