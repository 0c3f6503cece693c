"""The fault suite: every case asserts what it checks and records figures, printed at the end of
the run (and as one JSON line each with ``-s``) for the README's Reliability table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actorbus._transport.embedded import EmbeddedServer

FIGURES: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``figures(calls=…, failed={…}, hung=0, …)``: keep this case's figures for the summary."""

    def record(**values: Any) -> None:
        FIGURES.append((request.node.name, values))
        print(f"FIGURES {request.node.name} {json.dumps(values, sort_keys=True)}")

    return record


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    """A private nats-server the case may kill and restart."""
    with EmbeddedServer() as srv:
        yield srv


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "fault suite figures")
        for name, values in FIGURES:
            terminalreporter.write_line(f"{name}: {json.dumps(values, sort_keys=True)}")
