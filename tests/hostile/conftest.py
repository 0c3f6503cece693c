"""Fixtures of the hostile-input tests."""

from __future__ import annotations

import pytest

from actorbus import MemoryBus


@pytest.fixture
def shared(bus: str) -> str | MemoryBus:
    """The `bus` fixture, but one memory bus that several Apps of a test share."""
    return MemoryBus() if bus == "memory" else bus
