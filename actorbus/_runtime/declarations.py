"""Declarations on actor classes: endpoint, event, sink, ticker, config. No I/O here.

Each decorator records a spec; argument and return types are turned into msgspec types lazily
(on first use) so that forward references resolve once the module has finished importing.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from .._wire import jetstream as _jetstream
from .._wire import subjects as _subjects
from . import pathargs as _pathargs
from .callers import check_callers
from .configspec import ConfigSpec, config
from .signature import Signature, UnresolvedHint, type_name

__all__ = [
    "ConfigSpec",
    "EventDescriptor",
    "HandlerSpec",
    "Signature",
    "TickerSpec",
    "UnresolvedHint",
    "check_spec",
    "config",
    "endpoint",
    "event",
    "sink",
    "spec_of",
    "ticker",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
Kind = Literal["endpoint", "event", "sink"]

_SPEC_ATTR = "__actorbus_spec__"


@dataclass(eq=False)
class HandlerSpec:
    """One inbound route of an actor: an endpoint, an event (source side) or a sink."""

    kind: Kind
    func: Callable[..., Awaitable[Any]]
    method: str
    path: str
    port: int
    source: EventDescriptor | None = None  # sinks: the event they handle
    queue: str | None = None  # sinks: override of the queue group (default: the sink's host)
    max_concurrent: int | None = None  # running at once (None: the actor's `max_concurrent`)
    callers: frozenset[str] | None = None  # hosts that may call (None: the actor's, or anyone)
    durable: bool = False  # sinks: a JetStream consumer (at least once), not a live queue
    max_deliver: int = _jetstream.DEFAULT_MAX_DELIVER  # durable sinks: attempts, then a dead letter
    _signature: Signature | None = field(default=None, repr=False)
    #: A plain ``def``: it runs in a worker thread so it cannot block the actor's Trio thread.
    blocking: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        self.blocking = not inspect.iscoroutinefunction(self.func)

    @property
    def name(self) -> str:
        return self.func.__name__

    @property
    def signature(self) -> Signature:
        if self._signature is None:
            self._signature = Signature(self.func)
        return self._signature


@dataclass(frozen=True)
class TickerSpec:
    func: Callable[..., Awaitable[Any]]
    interval: float
    singleton: bool = False

    @property
    def name(self) -> str:
        return self.func.__name__


def spec_of(obj: object) -> HandlerSpec | TickerSpec | None:
    spec = getattr(obj, _SPEC_ATTR, None)
    return spec if isinstance(spec, HandlerSpec | TickerSpec) else None


def _parse_route(route: str | None, name: str, default_method: str) -> tuple[str, str]:
    if route is None:
        return default_method, "/" + _subjects.kebab(name.rpartition(".")[2])
    if not isinstance(route, str) or not route.strip():
        raise _subjects.SubjectError(f"{name}: route must be like 'GET /path', got {route!r}")
    parts = route.split()
    if len(parts) == 1:
        method, path = default_method, parts[0]
    elif len(parts) == 2:
        method, path = parts
    else:
        raise _subjects.SubjectError(f"{name}: route must be like 'GET /path', got {route!r}")
    try:
        method = _subjects.validate_method(method)
    except _subjects.SubjectError as exc:
        raise _subjects.SubjectError(f"{name}: {exc}") from None
    if not path.startswith("/"):
        raise _subjects.SubjectError(f"{name}: path must start with '/', got {path!r}")
    if method == "ANY":
        raise _subjects.SubjectError(
            f"{name}: method ANY is not supported (wildcard routes are refused); "
            f"declare one method, e.g. 'GET {path}'"
        )
    if "{" in path or "}" in path:
        raise _subjects.SubjectError(
            f"{name}: path {path!r}: '{{name}}' segments are not supported (wildcard routes are "
            "refused); pass the value as an argument instead"
        )
    return method, path


def _check_port(port: int, name: str, *, any_port: bool = False) -> int:
    try:
        _subjects.validate_port(port)
    except _subjects.SubjectError as exc:
        raise _subjects.SubjectError(f"{name}: {exc}") from None
    if port == 0 and not any_port:
        raise _subjects.SubjectError(
            f"{name}: port 0 (any port) is not supported (wildcard routes are refused); "
            "declare one port"
        )
    if port == _subjects.CONTROL_PORT:
        raise _subjects.SubjectError(f"{name}: port {port} is reserved for the control plane")
    return port


def check_spec(spec: HandlerSpec) -> None:
    """Build the handler's signature now (and, for a sink, compare it with its event's).

    Raises TypeError naming the handler; `UnresolvedHint` when a hint may yet resolve.
    """
    spec.signature  # noqa: B018 - built for its checks
    if spec.kind == "sink" and spec.source is not None:
        _check_sink_signature(spec, spec.source)


def check_later(spec: HandlerSpec) -> None:
    """`check_spec`, deferring only hints that may still resolve (a module mid-import)."""
    try:
        check_spec(spec)
    except UnresolvedHint:
        pass


def _check_handler(func: object, what: str) -> Callable[..., Awaitable[Any]]:
    if not inspect.iscoroutinefunction(func):
        name = getattr(func, "__qualname__", repr(func))
        raise TypeError(f"@{what} needs an 'async def' method, got {name}")
    return func


def _check_blocking_ok(func: object, what: str) -> Callable[..., Any]:
    """Endpoints and sinks may be plain ``def`` methods: they run in a worker thread."""
    generator = inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)
    if inspect.iscoroutinefunction(func) or (inspect.isfunction(func) and not generator):
        return func  # type: ignore[return-value]
    raise TypeError(f"@{what} needs an 'async def' or plain 'def' method, got {func!r}")


def _check_bound(max_concurrent: int | None, what: str) -> None:
    if max_concurrent is not None and (
        not isinstance(max_concurrent, int)
        or isinstance(max_concurrent, bool)
        or max_concurrent < 1
    ):
        raise ValueError(f"@{what}: max_concurrent must be an integer >= 1, got {max_concurrent!r}")


@overload
def endpoint(route: F, /) -> F: ...
@overload
def endpoint(
    route: str | None = None,
    /,
    *,
    port: int = _subjects.REQUEST_PORT,
    max_concurrent: int | None = None,
    callers: Iterable[str] | None = None,
) -> Callable[[F], F]: ...


def endpoint(
    route: Any = None,
    /,
    *,
    port: int = _subjects.REQUEST_PORT,
    max_concurrent: int | None = None,
    callers: Iterable[str] | None = None,
) -> Any:
    """Declare a request handler: bare means ``POST /<kebab-name>`` on port 443.

    ``max_concurrent`` bounds the calls running at once (default: the actor's
    ``max_concurrent``); a plain ``def`` handler runs in a worker thread. ``callers`` lists
    the hostnames that may call it (default: the actor's ``callers``, else anyone); others
    get `Forbidden` (403), and under ``actorbus acl`` nats-server refuses their request.
    """
    if callable(route):
        return endpoint()(route)
    _check_bound(max_concurrent, "endpoint")
    allowed = check_callers(callers, "@endpoint")

    def decorate(func: F) -> F:
        fn = _check_blocking_ok(func, "endpoint")
        method, path = _pathargs.endpoint_route(route, fn, _parse_route)  # {id}, ANY
        port_ = _check_port(port, fn.__qualname__, any_port=True)  # port 0: every port
        spec = HandlerSpec(
            "endpoint", fn, method, path, port_, max_concurrent=max_concurrent, callers=allowed
        )
        check_later(spec)
        setattr(fn, _SPEC_ATTR, spec)
        return func

    return decorate


class EventDescriptor:
    """An ``@event`` on a source class; on an instance it becomes a trigger.

    ``Source.on_x`` (on the class) names the event for ``@sink``; ``self.on_x(...)`` on the
    source fires it and returns the gathering of replies.
    """

    def __init__(self, spec: HandlerSpec) -> None:
        self.spec = spec
        self.owner: type | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner = owner

    @property
    def host(self) -> str:
        host = getattr(self.owner, "hostname", None)
        if not isinstance(host, str):
            raise TypeError(f"event {self.spec.name} belongs to a class without a hostname")
        return _subjects.validate_hostname(host)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._trigger(self)

    def __repr__(self) -> str:
        owner = self.owner.__name__ if self.owner else "?"
        return (
            f"<event {owner}.{self.spec.name} {self.spec.method} :{self.spec.port}{self.spec.path}>"
        )


@overload
def event(route: F, /) -> EventDescriptor: ...
@overload
def event(
    route: str | None = None, /, *, port: int = _subjects.EVENT_PORT
) -> Callable[[F], EventDescriptor]: ...


def event(route: Any = None, /, *, port: int = _subjects.EVENT_PORT) -> Any:
    """Declare an event on its source: bare means ``POST /<kebab-name>`` on port 417."""
    if callable(route):
        return event()(route)

    def decorate(func: F) -> EventDescriptor:
        fn = _check_handler(func, "event")
        method, path = _parse_route(route, fn.__qualname__, "POST")
        spec = HandlerSpec("event", fn, method, path, _check_port(port, fn.__qualname__))
        check_later(spec)
        return EventDescriptor(spec)

    return decorate


def sink(
    source: EventDescriptor,
    *,
    queue: str | None = None,
    max_concurrent: int | None = None,
    callers: Iterable[str] | None = None,
    durable: bool = False,
    max_deliver: int = _jetstream.DEFAULT_MAX_DELIVER,
) -> Callable[[F], F]:
    """Handle another actor's event; replicas of one sink host share one delivery.

    ``max_concurrent`` as for `endpoint`; a plain ``def`` sink runs in a worker thread. The
    event's source may always fire it; ``callers`` lists other hosts that may (default: the
    actor's ``callers``, else edge clients such as ``actorbus call --multicast``).
    ``durable=True``: the sink host is a JetStream consumer of the event, so an event fired
    while it was down is handled once it is back; ``max_deliver`` attempts (default 5), then
    the event is a dead letter (``actorbus dlq``).
    """
    if not isinstance(source, EventDescriptor):
        raise TypeError(f"@sink takes an event such as Source.on_something, got {source!r}")
    _check_bound(max_concurrent, "sink")
    allowed = check_callers(callers, "@sink")
    if not isinstance(max_deliver, int) or isinstance(max_deliver, bool) or max_deliver < 1:
        raise ValueError(f"@sink max_deliver must be an int >= 1, got {max_deliver!r}")

    def decorate(func: F) -> F:
        fn = _check_blocking_ok(func, "sink")
        ev = source.spec
        spec = HandlerSpec(
            "sink", fn, ev.method, ev.path, ev.port, source, queue, max_concurrent=max_concurrent,
            callers=allowed, durable=bool(durable), max_deliver=max_deliver,
        )  # fmt: skip
        check_later(spec)
        setattr(fn, _SPEC_ATTR, spec)
        return func

    return decorate


def _check_sink_signature(spec: HandlerSpec, source: EventDescriptor) -> None:
    want = source.spec.signature
    have = spec.signature
    where = f"sink {spec.func.__qualname__} for event {source.spec.func.__qualname__}"
    if want.params != have.params:
        raise TypeError(f"{where}: parameters {have.params} must match the event's {want.params}")
    for name in want.params:
        a, b = want.hints[name], have.hints[name]
        if a is not Any and b is not Any and a != b:
            raise TypeError(f"{where}: parameter {name!r} is {b!r}, the event declares {a!r}")
    a, b = want.return_type, have.return_type  # replies decode with the event's return type
    if a is not Any and b is not Any and a != b:
        raise TypeError(f"{where}: returns {type_name(b)}, the event declares {type_name(a)}")


def ticker(*, seconds: float, singleton: bool = False) -> Callable[[F], F]:
    """Run a method every ``seconds`` while the actor is up; an overlapping beat is skipped.
    ``singleton``: each beat runs on one replica of the host only (a lease held on the bus)."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
        raise ValueError(f"@ticker needs seconds > 0, got {seconds!r}")
    if not isinstance(singleton, bool):
        raise TypeError(f"@ticker singleton= must be True or False, got {singleton!r}")

    def decorate(func: F) -> F:
        fn = _check_handler(func, "ticker")
        setattr(fn, _SPEC_ATTR, TickerSpec(fn, float(seconds), singleton))
        return func

    return decorate
