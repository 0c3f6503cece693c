"""Shared fixtures: ``bus`` runs a test once on the memory bus and once on a real nats-server."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.nats)])
def bus(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory"
    url: str = request.getfixturevalue("nats_url")
    return url
