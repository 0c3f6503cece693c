"""A private nats-server with JetStream per case: its streams start empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actorbus._transport.embedded import EmbeddedServer


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv
