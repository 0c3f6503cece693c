"""The `Actor` base class: declarations gathered per class, lifecycle run inside a nursery."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self

import trio

from .._excgroups import lone_exception_as_itself
from .._wire import subjects as _subjects
from .api import Api, check_implementation, is_api
from .caller import Caller
from .callers import check_callers
from .context import CallOptions, new_instance_id
from .control import ServiceApi, control_routes
from .declarations import (
    ConfigSpec,
    EventDescriptor,
    HandlerSpec,
    TickerSpec,
    check_later,
    check_spec,
    spec_of,
)
from .gathering import Gathering
from .guard import WireGuard
from .hub import Hub
from .intake import DEFAULT_INBOX, DEFAULT_INBOX_BYTES
from .proxies import Client
from .server import Server
from .shapes import ActorStats, Placement
from .singleton import Lease, Leases, open_leases

__all__ = ["Actor", "ActorStats"]

log = logging.getLogger("actorbus.actor")


class Actor:
    """Base class of every actor. Set ``hostname``; decorate methods with endpoint, event,
    sink, ticker; declare ``config`` attributes; override ``on_startup``/``on_shutdown``."""

    hostname: ClassVar[str]
    version: ClassVar[str] = "0"
    __actorbus_actor__: ClassVar[bool] = True  # `api.ACTOR_MARK`: an API class tells actors
    #: Calls each handler runs at once, unless its decorator says otherwise (``max_concurrent=``).
    #: ``max_concurrent = 1`` on an actor class makes a mailbox instead: one message at a time
    #: across all the handlers that have no bound of their own (a handler that calls its own
    #: instance then waits for itself). The control port always answers.
    max_concurrent: ClassVar[int] = 100
    #: Calls each handler lets wait once it is at its bound; past that, callers get
    #: `Overloaded` (503) at once, so they can retry elsewhere.
    max_queued: ClassVar[int] = 100
    #: Fire-and-forget requests (events) each handler holds in its inbox while at its bound,
    #: in messages and in bytes (NATS's slow-consumer defaults); only past both are any
    #: dropped, and each drop is counted (``stats.wire["dropped"]``) and logged.
    max_inbox: ClassVar[int] = DEFAULT_INBOX
    max_inbox_bytes: ClassVar[int] = DEFAULT_INBOX_BYTES
    #: Hostnames that may call this actor's endpoints (and fire events at its sinks besides
    #: their sources), unless a decorator's ``callers=`` says otherwise; None: anyone.
    callers: ClassVar[Iterable[str] | None] = None
    _callers: ClassVar[frozenset[str] | None] = None

    _handlers: ClassVar[tuple[HandlerSpec, ...]] = ()
    _endpoints: ClassVar[dict[str, HandlerSpec]] = {}
    _events: ClassVar[dict[str, EventDescriptor]] = {}
    _tickers: ClassVar[tuple[TickerSpec, ...]] = ()
    _configs: ClassVar[dict[str, ConfigSpec[Any]]] = {}
    _verified: ClassVar[bool] = False
    #: True for a mailbox: a class that sets ``max_concurrent = 1`` itself (its handlers
    #: without a bound of their own share one).
    _instance_bound: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "hostname" in cls.__dict__:
            try:
                cls.hostname = _subjects.validate_hostname(cls.__dict__["hostname"])
            except _subjects.SubjectError as exc:
                raise _subjects.SubjectError(f"{cls.__qualname__}: {exc}") from None
        bounds = {"max_concurrent": 1, "max_queued": 0, "max_inbox": 0, "max_inbox_bytes": 0}
        for name, least in bounds.items():
            value = cls.__dict__.get(name, least)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(
                    f"{cls.__qualname__}.{name} must be an integer >= {least}, got {value!r}"
                )
        if "callers" in cls.__dict__:
            cls._callers = check_callers(cls.__dict__["callers"], cls.__qualname__)
        if "max_concurrent" in cls.__dict__:
            cls._instance_bound = cls.__dict__["max_concurrent"] == 1
        handlers: dict[str, HandlerSpec] = {}
        events: dict[str, EventDescriptor] = {}
        tickers: dict[str, TickerSpec] = {}
        configs: dict[str, ConfigSpec[Any]] = {}
        for klass in reversed(cls.__mro__):
            stubs = is_api(klass)  # an API's endpoints are stubs: only its events count
            for name, value in vars(klass).items():
                if isinstance(value, EventDescriptor):
                    events[name] = value
                    handlers[name] = value.spec
                elif isinstance(value, ConfigSpec):
                    configs[name] = value
                elif not stubs:
                    spec = spec_of(value)
                    if isinstance(spec, HandlerSpec):
                        handlers[name] = spec
                    elif isinstance(spec, TickerSpec):
                        tickers[name] = spec
        cls._handlers = tuple(handlers.values())
        cls._endpoints = {n: s for n, s in handlers.items() if s.kind == "endpoint"}
        cls._events = events
        cls._tickers = tuple(tickers.values())
        cls._configs = configs
        cls._verified = False
        check_implementation(cls)
        _check_routes(cls)
        for spec in cls._handlers:
            check_later(spec)

    @classmethod
    def _verify(cls) -> None:
        """Final definition checks, once per class: every type hint must resolve by now."""
        if not cls._verified:
            for spec in cls._handlers:
                check_spec(spec)
            check_implementation(cls, final=True)
            cls._verified = True

    @classmethod
    def host(cls) -> str:
        """The validated hostname (raises a clear error when the class has none)."""
        host = getattr(cls, "hostname", None)
        if not isinstance(host, str):
            raise TypeError(f"{cls.__name__} must set a class attribute 'hostname'")
        return _subjects.validate_hostname(host)

    def __new__(cls, *args: Any, config: dict[str, Any] | None = None, **kwargs: Any) -> Self:
        """Set up the base state here, so a subclass's ``__init__`` can neither lose ``config=``
        nor skip the setup by not calling ``super().__init__()``."""
        cls.host()
        cls._verify()
        self = super().__new__(cls)
        self._setup(config)
        return self

    def __init__(self, *, config: dict[str, Any] | None = None) -> None:
        """``config=`` (a value per config attribute) was already taken by ``__new__``; values
        a subclass passes on here explicitly are added on top."""
        if config:
            self._config_input.update(config)

    def _setup(self, config: dict[str, Any] | None) -> None:
        self.instance = new_instance_id()
        self.stats = ActorStats()
        self._config_values: dict[str, Any] = {}
        self._config_input: dict[str, Any] = dict(config or {})
        self._caller: Caller | None = None
        self._placement: Placement | None = None  # while running: read by the control plane
        self._server: Server | None = None  # while running
        self._stop = trio.Event()
        self._stopped = trio.Event()
        self._started_at = math.nan

    # -- hooks -----------------------------------------------------------------------------

    async def on_startup(self) -> None:
        """Runs before the actor's endpoints are subscribed; raise to refuse to start
        (``App.add`` then raises that exception, and nothing of the actor keeps running)."""

    async def on_shutdown(self) -> None:
        """Runs after in-flight handlers finished (or were cancelled); an exception here is
        logged, and the actor still stops cleanly."""

    # -- calling others ----------------------------------------------------------------------

    def client(self, cls: type[Actor] | type[Api]) -> Any:
        """A proxy to call the endpoints of ``cls`` (an actor or its API class) from this actor,
        with its identity and budget."""
        return Client(self._running_caller(), cls)

    def _running_caller(self) -> Caller:
        if self._caller is None:
            raise RuntimeError(f"{type(self).__name__} is not running; add it to an App first")
        return self._caller

    def _trigger(self, ev: EventDescriptor) -> Callable[..., Gathering]:
        """``self.on_x``: the function that fires event ``ev`` (made once per instance)."""
        made: dict[EventDescriptor, Callable[..., Gathering]]
        made = self.__dict__.setdefault("_triggers", {})
        fire = made.get(ev)
        if fire is None:
            fire = made[ev] = self._make_trigger(ev)
        return fire

    def _make_trigger(self, ev: EventDescriptor) -> Callable[..., Gathering]:
        spec = ev.spec
        sig = spec.signature
        host = ev.host

        def fire(*args: Any, **kwargs: Any) -> Gathering:
            body = sig.encode(sig.bind(args, kwargs))
            caller = self._running_caller()
            return caller.multicast(
                host, spec.port, spec.method, spec.path, body, sig.decode_result
            )

        fire.__name__ = spec.name
        return fire

    @property
    def uptime(self) -> float:
        return 0.0 if math.isnan(self._started_at) else trio.current_time() - self._started_at

    # -- lifecycle (driven by App) -------------------------------------------------------------

    def _load_config(self) -> None:
        """Resolve ``config`` values: argument, then environment, then config file (`_config`)."""
        from .._observe.logs import bind_actor
        from .config import resolve

        bind_actor(self.host(), self.instance)
        self._config_values.update(resolve(type(self), self._config_input))

    async def _run(
        self,
        hub: Hub,
        options: CallOptions,
        grace: float,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        if self._caller is not None or self._stopped.is_set():
            raise RuntimeError(f"{type(self).__name__} instance {self.instance} already ran")
        host = self.host()
        self._load_config()
        guard = WireGuard(host, self.stats.wire)
        caller = Caller(hub, host, self.instance, options, guard)
        await caller.start()
        self._caller = caller
        started = False
        leases = Leases({})
        try:
            leases = await open_leases(
                hub.transport, hub.plane, host, self.instance, type(self)._tickers
            )
            try:
                await self.on_startup()
            except Exception as exc:
                exc.add_note(f"{host}: on_startup failed, so the actor was not started")
                raise
            async with trio.open_nursery() as handlers:
                server = Server(
                    self, hub, host, self.instance, options, handlers, control_routes(self), guard
                )
                self._server = server
                try:
                    self._placement = Placement(
                        hub.transport.describe(), hub.plane, lambda: server.in_flight
                    )
                    await server.start()
                    service_api = ServiceApi(self, hub)
                    await service_api.start()
                    self._started_at = trio.current_time()
                    async with trio.open_nursery() as tickers:
                        for spec in type(self)._tickers:
                            tickers.start_soon(self._tick, spec, leases.get(spec.name))
                        log.info(
                            "%s started (instance %s, bus %s)",
                            host,
                            self.instance,
                            hub.transport.describe(),
                        )
                        task_status.started()
                        started = True
                        await self._stop.wait()
                        tickers.cancel_scope.cancel()
                    await leases.aclose()  # another replica takes the next beat
                    await service_api.aclose()
                    await server.stop_intake()
                    with trio.move_on_after(grace):
                        await server.wait_idle()
                    if server.in_flight:
                        log.warning(
                            "%s: cancelling %d handlers after the grace period",
                            host,
                            server.in_flight,
                        )
                finally:  # its calls run in the hub's tasks: they end before it does
                    await server.end_calls()
                handlers.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await server.aclose()
            with trio.move_on_after(grace):
                try:
                    await self.on_shutdown()
                except Exception as exc:
                    log.error("%s: on_shutdown raised %r", host, exc, exc_info=exc)
        except Exception as exc:
            if not started:  # App.add raises it (as itself, not in a group): it never ran
                with lone_exception_as_itself():
                    raise
            # A failure stays in its actor: it stops (handlers cancelled, no on_shutdown),
            # its siblings and the App go on; `actorbus run` restarts it.
            cause: BaseException = exc
            while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
                cause = cause.exceptions[0]  # the one error of a nursery, not its group
            log.error(
                "%s (instance %s) failed and was stopped: %r",
                host,
                self.instance,
                cause,
                exc_info=exc,
            )
        finally:
            await leases.aclose()
            with trio.CancelScope(shield=True):
                await caller.aclose()
            self._caller = self._placement = self._server = None
            self._stopped.set()

    def _request_stop(self) -> None:
        self._stop.set()

    async def _tick(self, spec: TickerSpec, lease: Lease | None) -> None:
        """Run ``spec`` every interval, aligned to start; skip a beat while the last still runs.

        Beats missed while the process was stalled are counted as skips, not run back to back.
        Exceptions are logged and counted in ``stats.tick_errors``; they never stop the ticker.
        With a ``lease`` (a singleton ticker) a beat runs only while this instance holds it,
        renewed every beat, and is cancelled if the lease lapses before the beat ends.
        """
        from .._observe.logs import bind_actor

        name = spec.name
        host = self.host()
        bind_actor(host, self.instance)
        stats = self.stats
        stats.ticks[name] = stats.tick_skips[name] = stats.tick_errors[name] = 0
        if lease is not None:
            stats.tick_standby[name] = 0
        interval = spec.interval
        busy = False
        running: trio.CancelScope | None = None  # the beat in progress, bounded by its lease

        async def once() -> None:
            nonlocal busy
            try:
                until = math.inf if lease is None else await lease.hold()
                if until is None:
                    stats.tick_standby[name] += 1
                else:
                    await run(until)
            finally:
                busy = False

        async def run(until: float) -> None:
            nonlocal running
            tracer = self._running_caller().hub.spans
            span = tracer.ticker(self.host(), self.instance, name) if tracer.active else None
            try:
                with trio.CancelScope(deadline=until) as running:
                    await spec.func(self)
                    stats.ticks[name] += 1
                if running.cancelled_caught:
                    stats.tick_errors[name] += 1
                    log.warning("%s: ticker %s cancelled: its lease lapsed mid-beat", host, name)
            except Exception as exc:
                stats.tick_errors[name] += 1
                if span is not None:
                    span.error = exc
                log.warning("%s: ticker %s raised %r", host, name, exc, exc_info=exc)
            finally:
                running = None
                if span is not None:
                    span.close()

        async def renew() -> None:
            """Keep the lease of a beat that outlasts its interval."""
            assert lease is not None
            until = await lease.hold()
            if until is not None and running is not None:
                running.deadline = max(running.deadline, until)

        async with trio.open_nursery() as nursery:
            beat = trio.current_time()
            while True:
                beat += interval
                await trio.sleep_until(beat)
                late = trio.current_time() - beat
                if late >= interval:
                    missed = int(late // interval)
                    stats.tick_skips[name] += missed
                    beat += missed * interval
                if busy:
                    stats.tick_skips[name] += 1
                    if lease is not None and running is not None:
                        nursery.start_soon(renew)
                    continue
                busy = True
                nursery.start_soon(once)


def _check_routes(cls: type[Actor]) -> None:
    """Two handlers of one class may not serve the same route (only one could ever answer)."""
    seen: dict[tuple[str, int, str, str], HandlerSpec] = {}
    for spec in cls._handlers:
        if spec.kind == "event":
            continue
        host = spec.source.owner.__qualname__ if spec.source and spec.source.owner else ""
        route = (host, spec.port, spec.method, spec.path)
        other = seen.setdefault(route, spec)
        if other is not spec:
            where = f"{host + ' ' if host else ''}{spec.method} :{spec.port}{spec.path}"
            raise TypeError(f"{cls.__qualname__}: {other.name} and {spec.name} both serve {where}")
