"""An embedded NATS cluster: several `EmbeddedServer` nodes on loopback joined by routes.

What a deployment that outgrows one nats-server runs, on one machine: clients connect to any
node; subscriptions propagate over the routes; each node announces the others' client URLs
(INFO ``connect_urls``), so a client that loses its node reconnects to another. Each node gets
a loopback monitoring port, used only to wait until every node is routed to every other one.
Nodes keep their ports across `stop_node` / `start_node`, as a restarted machine would.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType

import trio

from .embedded import EmbeddedServer, EmbeddedServerError

__all__ = ["EmbeddedCluster", "open_cluster"]

#: How long `start` waits for every node to be routed to the others, in seconds.
_ROUTE_TIMEOUT = 15.0


class EmbeddedCluster:
    """``size`` nats-server processes on ``host``, fully routed, named ``<name>-1`` … ."""

    def __init__(
        self,
        size: int = 3,
        host: str = "127.0.0.1",
        *,
        name: str = "actorbus",
        extra_args: Sequence[str] = (),
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one node, got {size}")
        self.host = host
        self.name = name
        self.extra_args = tuple(extra_args)
        self.nodes = [EmbeddedServer(host, 0) for _ in range(size)]
        self._cluster_ports = [0] * size
        self._monitor_ports = [0] * size

    @property
    def urls(self) -> list[str]:
        """Every node's client URL, in node order."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All client URLs, comma-separated (what ``NATS_URL`` takes)."""
        return ",".join(self.urls)

    def start(self) -> None:
        """Start every node and return once each one is routed to all the others."""
        # Every node routes to every other from the start: clustered JetStream needs its
        # routes configured, not only learned.
        self._cluster_ports = [port or _free_port(self.host) for port in self._cluster_ports]
        try:
            for index in range(len(self.nodes)):
                self._start_node(index)
            self.wait_routed()
        except BaseException:
            self.stop()
            raise

    def start_node(self, index: int) -> None:
        """(Re)start one node on its old ports and wait until the cluster is whole again."""
        self._start_node(index)
        self.wait_routed()

    def stop_node(self, index: int, *, kill: bool = False) -> None:
        """Stop one node (``kill=True``: SIGKILL, as when its machine dies)."""
        self.nodes[index].stop(kill=kill)

    def stop(self) -> None:
        """Stop every node; idempotent."""
        for node in self.nodes:
            node.stop()

    def _start_node(self, index: int) -> None:
        node, host = self.nodes[index], self.host
        routes = [
            f"nats://{host}:{port}"
            for other, port in enumerate(self._cluster_ports)
            if other != index and port > 0
        ]
        args = [
            "--cluster", f"nats://{host}:{self._cluster_ports[index] or -1}",
            "--cluster_name", self.name,
            "--server_name", f"{self.name}-{index + 1}",
            "-m", str(self._monitor_ports[index] or -1),
        ]  # fmt: skip
        if routes:
            args += ["--routes", ",".join(routes)]
        node.extra_args = (*args, *self.extra_args)
        node.start()
        self._cluster_ports[index] = _port(node.ports.get("cluster"))
        self._monitor_ports[index] = _port(node.ports.get("monitoring"))

    def wait_routed(self, timeout: float = _ROUTE_TIMEOUT) -> None:
        """Poll each running node's ``/routez`` until it sees every other running node."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            running = [i for i, node in enumerate(self.nodes) if node.running]
            missing = [i for i in running if len(self._peers(i)) < len(running) - 1]
            if not missing:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(f"{self.name}-{i + 1}" for i in missing)
                raise EmbeddedServerError(f"cluster nodes not routed within {timeout:g} s: {names}")
            time.sleep(delay)  # poll interval of a bounded condition loop, not a fixed wait
            delay = min(delay * 2, 0.2)

    def _peers(self, index: int) -> set[str]:
        url = f"http://{self.host}:{self._monitor_ports[index]}/routez"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                routez = json.load(answer)
        except (OSError, ValueError):
            return set()
        return {str(r.get("remote_name") or r.get("remote_id")) for r in routez.get("routes") or []}

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedCluster {self.url if self.nodes[0].running else self.name}>"


def _free_port(host: str) -> int:
    """A port nothing listens on now (the node binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port(urls: list[str] | None) -> int:
    if not urls:
        raise EmbeddedServerError("nats-server did not report its cluster or monitoring port")
    return int(urls[0].rsplit(":", 1)[1])


@asynccontextmanager
async def open_cluster(size: int = 3, host: str = "127.0.0.1") -> AsyncIterator[EmbeddedCluster]:
    """Run an `EmbeddedCluster` for the duration of the block, without blocking the Trio loop."""
    cluster = EmbeddedCluster(size, host)
    try:
        await trio.to_thread.run_sync(cluster.start)
        yield cluster
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(cluster.stop)
