"""`App`: runs actors on one bus; the only runtime module that names concrete transports.

With credentials (``App(..., credentials=FILE)`` or ``$ACTORBUS_CREDENTIALS``) every actor whose
hostname has an identity gets its own NATS connection as that identity, opened on first use and
held by a task of the App until it exits; the App's edge calls use the edge identity.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
)
from types import TracebackType
from typing import Any, TypeGuard

import trio

from ._excgroups import leaf, lone_exception_as_itself
from ._observe.metrics import NULL_METRICS, Metrics
from ._observe.watchdog import DEFAULT_BLOCK_WARNING, Watchdog
from ._runtime.actor import Actor
from ._runtime.api import Api
from ._runtime.caller import Caller
from ._runtime.callers import check_tracebacks
from ._runtime.context import CallOptions, new_instance_id
from ._runtime.errors import BusError, bus_errors
from ._runtime.hub import Hub
from ._runtime.proxies import Client
from ._transport.base import Transport, TransportError
from ._transport.credentials import Credentials, Identity, resolve_credentials, with_user
from ._transport.memory import MemoryBus
from ._version import install_hint
from ._wire import callstate as _callstate
from ._wire import subjects as _subjects

__all__ = ["App", "open_bus"]

log = logging.getLogger("actorbus.app")


BusSpec = str | MemoryBus | Transport
CredentialsSpec = str | os.PathLike[str] | Credentials | None


def is_nats_url(bus: object) -> TypeGuard[str]:
    return isinstance(bus, str) and bus.split("://", 1)[0] in {"nats", "tls", "ws", "wss"}


#: The NATS clients ``App(nats_client=...)`` and ``ACTORBUS_NATS_CLIENT`` choose from.
NATS_CLIENTS = ("native", "nats-py")


def nats_client_choice(nats_client: str | None = None) -> str:
    """``nats_client``, else ``$ACTORBUS_NATS_CLIENT``, else ``"native"``; unknown: ValueError."""
    choice = nats_client or os.environ.get("ACTORBUS_NATS_CLIENT") or "native"
    if choice not in NATS_CLIENTS:
        source = "nats_client" if nats_client else "ACTORBUS_NATS_CLIENT"
        raise ValueError(
            f"unknown NATS client {choice!r} (from {source}): use 'native' or 'nats-py'"
        )
    return choice


def _open_nats(
    url: str, nats_client: str, **options: Any
) -> AbstractAsyncContextManager[Transport]:
    """The chosen client's connection (``name``, ``nkey_seed`` … passed on)."""
    if nats_client == "nats-py":
        from ._transport.natspy import open_natspy

        return open_natspy(url, **options)
    from ._transport.native import open_native

    return open_native(url, **options)


@asynccontextmanager
async def open_bus(
    bus: BusSpec, identity: Identity | None = None, *, nats_client: str | None = None
) -> AsyncIterator[Transport]:
    """``"memory"``, ``"embedded"``, ``"embedded?cluster=3"`` (three routed nats-servers on
    loopback; the App connects to all three URLs), ``nats://…`` (comma-separated for a cluster),
    a `MemoryBus` shared by several Apps, or a ready `Transport`. A NATS connection authenticates
    as ``identity`` when one is given (and is named after it); ``nats_client`` picks the NATS
    client (`nats_client_choice`)."""
    client = nats_client_choice(nats_client)
    if isinstance(bus, Transport):
        yield bus
        return
    if isinstance(bus, MemoryBus):
        transport: Transport = bus.connect()
    elif bus == "memory":
        transport = MemoryBus().connect()
    elif bus == "embedded":
        from ._transport.embedded import open_embedded

        async with open_embedded() as server, _open_nats(server.url, client) as nats:
            yield nats
        return
    elif isinstance(bus, str) and bus.startswith("embedded?cluster="):
        from ._transport.cluster import open_cluster

        size = bus.partition("=")[2]
        if not size.isdigit() or not 1 <= int(size) <= 9:
            raise ValueError(f"bus {bus!r}: the cluster size must be a number from 1 to 9")
        async with open_cluster(int(size)) as cluster, _open_nats(cluster.url, client) as nats:
            yield nats
        return
    elif isinstance(bus, str) and is_nats_url(bus):
        if identity is None:
            async with _open_nats(bus, client) as nats:
                yield nats
        else:
            url = with_user(bus, identity)
            async with _open_nats(url, client, name=identity.name, nkey_seed=identity.seed) as nats:
                yield nats
        return
    else:
        raise ValueError(
            f"unknown bus {bus!r}: use 'memory', 'embedded', 'embedded?cluster=N' or a nats:// URL"
        )
    try:
        yield transport
    finally:
        with trio.CancelScope(shield=True):
            await transport.aclose()


def default_plane() -> str:
    return os.environ.get("ACTORBUS_PLANE", "actorbus")


def random_plane() -> str:
    """A fresh plane, so that tests sharing one NATS server never see each other."""
    return "t" + secrets.token_hex(6)


class App:
    """Runs actors on a bus: ``async with App(Users(), bus="memory") as app: ...``.

    Leaving the block shuts the actors down gracefully: they stop taking new requests, running
    handlers get ``grace`` seconds to finish, then they are cancelled. ``max_budget`` caps the
    time budget an inbound request brings from the wire (seconds, default 60).

    ``metrics=True`` keeps Prometheus metrics (needs ``prometheus-client``; read them with
    ``app.metrics.render()``). ``otel=True`` (default: ``ACTORBUS_OTEL=1``) exports every span
    through the OpenTelemetry SDK, configured by the standard ``OTEL_*`` variables.
    ``block_warning`` (seconds, default 1; None turns it off): a handler that blocks the Trio
    scheduler that long is named in one log line. ``max_body`` (bytes, default 32 MiB) bounds
    every request's and reply's body, on every bus and for co-located calls; frames past the
    server's ``max_payload`` travel in pieces. ``tracebacks``: who gets a failed handler's
    traceback (``RemoteError.remote_traceback``): every caller (True, the default), nobody
    (False), or a list of caller hostnames.
    """

    def __init__(
        self,
        *actors: Actor,
        bus: BusSpec = "memory",
        plane: str | None = None,
        grace: float = 8.0,
        ack_window: float = _callstate.DEFAULT_ACK_WINDOW,
        hop_reserve: float = _callstate.DEFAULT_HOP_RESERVE,
        default_budget: float = _callstate.DEFAULT_BUDGET,
        hostname: str = "app.actorbus",
        nats_client: str | None = None,
        max_budget: float = _callstate.DEFAULT_MAX_BUDGET,
        metrics: bool = False,
        otel: bool | None = None,
        credentials: CredentialsSpec = None,
        block_warning: float | None = DEFAULT_BLOCK_WARNING,
        max_body: int = _callstate.DEFAULT_MAX_BODY,
        tracebacks: bool | Iterable[str] = True,
    ) -> None:
        for actor in actors:
            if not isinstance(actor, Actor):
                raise TypeError(f"App takes Actor instances, got {actor!r}")
        self._initial = list(actors)
        self.bus = bus
        #: ``"native"`` (default) or ``"nats-py"``; from ``ACTORBUS_NATS_CLIENT`` when not given.
        self.nats_client = nats_client_choice(nats_client)
        self.plane = _subjects.validate_plane(plane or default_plane())
        self.grace = grace
        if not isinstance(max_budget, int | float) or not max_budget > 0:
            raise ValueError(f"max_budget must be a number of seconds > 0, got {max_budget!r}")
        if not isinstance(max_body, int) or isinstance(max_body, bool) or max_body < 1:
            raise ValueError(f"max_body must be a number of bytes >= 1, got {max_body!r}")
        # max_budget caps the time budget a request brings from the wire (default 60 s).
        self.options = CallOptions(
            max_body=max_body,
            ack_window=ack_window,
            hop_reserve=hop_reserve,
            default_budget=default_budget,
            max_budget=float(max_budget),
            tracebacks=check_tracebacks(tracebacks),
        )
        self.hostname = _subjects.validate_hostname(hostname)
        self.instance = new_instance_id()
        self.actors: list[Actor] = []
        self._stack: AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        self._hub: Hub | None = None
        self._edge: Caller | None = None
        self._want_metrics = metrics
        if otel is None:
            otel = os.environ.get("ACTORBUS_OTEL", "").lower() in {"1", "true", "on", "yes"}
        self._want_otel = otel
        self.metrics: Metrics = NULL_METRICS
        self._span_sink: Any = None  # the OTel sink, shared by every hub of the App
        #: Read now, so that a bad file fails at once (a `CredentialsError`, naming no secret).
        self.credentials = resolve_credentials(credentials)
        self._url: str | None = None
        self._hubs: dict[str, Hub] = {}  # actor hostname → the hub on its own connection
        self._hub_lock = trio.Lock()
        self._closing = trio.Event()
        self._block_warning = block_warning

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the App is not running (use 'async with App(...)')")
        return self._hub

    @property
    def transport(self) -> Transport:
        return self.hub.transport

    async def __aenter__(self) -> App:
        with bus_errors("cannot start the App"):  # a connection that drops while starting
            return await self._enter()

    async def _enter(self) -> App:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            creds = self.credentials
            bus: BusSpec = self.bus
            if creds is not None and bus == "embedded":  # every identity joins one server
                from ._transport.embedded import open_embedded

                bus = (await stack.enter_async_context(open_embedded())).url
            self._url = bus if creds is not None and is_nats_url(bus) else None
            edge_identity = creds.edge if self._url is not None and creds else None
            if edge_identity is not None and not self.hostname.endswith(".actorbus"):
                log.warning(
                    "App hostname %s is not under .actorbus: the edge user may not receive "
                    "its replies",
                    self.hostname,
                )
            try:
                transport = await stack.enter_async_context(
                    open_bus(bus, edge_identity, nats_client=self.nats_client)
                )
            except TransportError as exc:
                raise BusError(f"cannot open the bus: {exc}") from exc
            hub = Hub(transport, self.plane, self.options.ack_delay)
            self._observe(hub, stack)
            await hub.start()
            stack.push_async_callback(_shielded, hub.aclose)
            edge = Caller(hub, self.hostname, self.instance, self.options)
            await edge.start()
            stack.push_async_callback(_shielded, edge.aclose)
            self._closing = trio.Event()
            self._nursery = await stack.enter_async_context(trio.open_nursery())
            # Runs first on exit: the actors' own connections close once every actor stopped.
            stack.push_async_callback(self._release_connections)
            stack.callback(hub.stop_watching)  # before the nursery waits for its tasks
            await self._nursery.start(hub.watch_connection)
            await self._nursery.start(self._run_hub_tasks, hub)
            if self._block_warning:  # names a handler that blocks the scheduler
                dog = Watchdog(self._block_warning, lambda: self.actors)
                stack.callback(dog.stop)
                await self._nursery.start(dog.heartbeat)
            self._hub, self._edge, self._stack = hub, edge, stack
            await self._add_initial()
        except BaseException as exc:
            self._hub = self._edge = self._nursery = self._stack = None
            with lone_exception_as_itself():
                await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack = self._stack
        assert stack is not None
        try:
            for actor in self.actors:
                actor._request_stop()
        finally:
            self._stack = None
            try:
                with bus_errors(), lone_exception_as_itself():  # the bus gave up (credentials)
                    suppressed = await stack.__aexit__(exc_type, exc, tb)
            finally:
                self._hub = self._edge = self._nursery = None
                self._hubs.clear()
        return suppressed

    def _observe(self, hub: Hub, stack: AsyncExitStack) -> None:
        """Switch on the optional observers (imported only when asked for)."""
        if self._want_metrics:
            try:
                from ._observe.prometheus import PrometheusMetrics
            except ImportError as exc:
                raise ImportError(
                    f"metrics need prometheus-client: {install_hint('metrics')} ({exc})"
                ) from None
            self.metrics = hub.metrics = PrometheusMetrics(lambda: self.actors, hub.transport)
        if self._want_otel:
            try:
                from ._observe.otel import OtelSink
            except ImportError as exc:
                raise ImportError(
                    f"OpenTelemetry export needs its SDK: {install_hint('otel')} ({exc})"
                ) from None
            sink = self._span_sink = OtelSink.from_env()
            hub.spans.set_sink(sink)

            async def flush_spans() -> None:  # the SDK's batch thread: flushed, off the loop
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(sink.shutdown)

            stack.push_async_callback(flush_spans)

    async def add(self, actor: Actor) -> Actor:
        """Start one more actor; returns once it is subscribed and discoverable."""
        await self._start(actor)
        self.actors.append(actor)
        return actor

    async def _start(self, actor: Actor) -> None:
        if self._nursery is None or self._hub is None:
            raise RuntimeError("the App is not running (use 'async with App(...)')")
        if not isinstance(actor, Actor):
            raise TypeError(f"App.add takes an Actor instance, got {actor!r}")
        host = actor.host()
        with bus_errors(f"cannot start {host}"):
            hub = await self._hub_for(host)
            await self._nursery.start(actor._run, hub, self.options, self.grace)
            try:  # the server refuses subscriptions asynchronously (max_subscriptions)
                await hub.transport.flush()
            except TransportError:
                actor._request_stop()
                await actor._stopped.wait()
                raise

    async def _add_initial(self) -> None:
        """Start the App's own actors side by side, so that their subscriptions and round
        trips overlap (1,000 actors start in a fraction of the time); `actors` keeps their
        order. The first failure stops the start-up, as `add` would."""
        if len(self._initial) == 1:
            await self.add(self._initial[0])
            return
        try:
            async with trio.open_nursery() as starting:
                for actor in self._initial:
                    starting.start_soon(self._start, actor)
        except BaseExceptionGroup as group:  # several refused at once: the first says why
            failures, rest = group.split(BusError)
            if failures is None or rest is not None:
                raise
            first = leaf(failures)
            raise first from first.__cause__
        self.actors.extend(self._initial)

    async def _hub_for(self, host: str) -> Hub:
        """The hub of ``host``'s own connection when the credentials name it, else the App's."""
        assert self._hub is not None
        identity = self.credentials.for_host(host) if self.credentials else None
        if identity is None or self._url is None or self._nursery is None:
            if self._url is not None and host not in self._hubs:
                log.warning("%s has no entry in the credentials: it connects as the edge", host)
                self._hubs[host] = self._hub
            return self._hub
        async with self._hub_lock:
            hub = self._hubs.get(host)
            if hub is None:
                try:
                    hub = await self._nursery.start(self._hold_connection, self._url, identity)
                except TransportError as exc:
                    raise BusError(f"cannot connect {host} to the bus: {exc}") from exc
                self._hubs[host] = hub
            return hub

    async def _release_connections(self) -> None:
        """Let the actors' own connections close, once every actor has stopped with them.

        Shielded, so that it never replaces the exception the App is leaving with; the wait is
        bounded by the actors' own (graceful or cancelled) shutdown."""
        try:
            with trio.CancelScope(shield=True):
                for actor in list(self.actors):
                    await actor._stopped.wait()
        finally:
            self._closing.set()

    async def _run_hub_tasks(
        self, hub: Hub, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The hub's timer, ack sender and handler tasks, until every actor has stopped (they
        may call and serve while draining)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.timers.run)
            await nursery.start(hub.acks.run)
            await nursery.start(hub.serve_workers)
            task_status.started()
            await self._closing.wait()
            nursery.cancel_scope.cancel()

    async def _hold_connection(
        self, url: str, identity: Identity, *, task_status: trio.TaskStatus[Hub]
    ) -> None:
        """Open one identity's connection and hub; keep them until the App closes."""
        async with open_bus(url, identity, nats_client=self.nats_client) as transport:
            hub = Hub(transport, self.plane, self.options.ack_delay, identity.name)
            hub.metrics = self.metrics  # the observers see every connection's traffic
            if self._span_sink is not None:
                hub.spans.set_sink(self._span_sink)
            await hub.start()
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(hub.watch_connection)
                    await nursery.start(hub.timers.run)
                    await nursery.start(hub.acks.run)
                    await nursery.start(hub.serve_workers)
                    task_status.started(hub)
                    await self._closing.wait()
                    hub.stop_watching()
                    nursery.cancel_scope.cancel()
            finally:
                await _shielded(hub.aclose)

    async def remove(self, actor: Actor) -> None:
        """Stop one actor gracefully and wait until it is gone; raises at once for an actor
        that this App never ran."""
        if actor not in self.actors and not actor._stopped.is_set():
            raise ValueError(f"{actor!r} was never added to this App")
        actor._request_stop()
        await actor._stopped.wait()
        if actor in self.actors:
            self.actors.remove(actor)

    def client(self, cls: type[Actor] | type[Api]) -> Any:
        """A proxy to call the endpoints of ``cls`` (an actor or its API class) from outside
        any actor."""
        if self._edge is None:
            raise RuntimeError("the App is not running (use 'async with App(...)')")
        return Client(self._edge, cls)

    @property
    def caller(self) -> Caller:
        """The App's own outbound identity (for untyped calls by host and path)."""
        if self._edge is None:
            raise RuntimeError("the App is not running (use 'async with App(...)')")
        return self._edge


async def _shielded(close: Any) -> None:
    with trio.CancelScope(shield=True):
        await close()
