"""The embedded nats-server leaves nothing behind, and ``bus="embedded?cluster=N"``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import trio

from actorbus import App
from actorbus._transport.cluster import EmbeddedCluster
from actorbus._transport.embedded import EmbeddedServer

from ..runtime.actors import Calc

pytestmark = pytest.mark.nats


async def test_a_server_started_from_a_short_lived_thread_outlives_that_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plane: str
) -> None:
    """The parent-death signal follows the thread that forked: that must not be the caller's."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    server = EmbeddedServer()
    try:
        thread = threading.Thread(target=server.start)
        thread.start()
        await trio.to_thread.run_sync(thread.join)
        assert not os.listdir(tmp_path), "the running server keeps no temporary folder"
        async with App(Calc(), bus=server.url, plane=plane) as app:  # the server still serves
            assert await app.client(Calc).add(a=1) == 2
        assert server.running
    finally:
        server.stop()
    assert "Server is ready" in server.log_tail()  # the log stays readable after its folder went


async def test_an_app_on_an_embedded_cluster(plane: str) -> None:
    async with App(Calc(), bus="embedded?cluster=3", plane=plane) as app:
        assert app.transport.describe().count("nats://127.0.0.1:") == 3
        assert await app.client(Calc).add(a=1) == 2


async def test_a_bad_cluster_size_is_one_clear_error(plane: str) -> None:
    with pytest.raises(ValueError, match="cluster size"):
        async with App(bus="embedded?cluster=lots", plane=plane):
            pass


def test_cluster_nodes_route_to_each_other_and_keep_their_ports(
    nats_cluster: EmbeddedCluster,
) -> None:
    urls = nats_cluster.urls
    assert len(set(urls)) == 3
    nats_cluster.stop_node(1, kill=True)
    assert not nats_cluster.nodes[1].running
    nats_cluster.start_node(1)
    assert nats_cluster.urls == urls
    assert all(len(nats_cluster._peers(i)) == 2 for i in range(3))
