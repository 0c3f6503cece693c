"""Declarations on actor classes: endpoint, event, sink, ticker, config. No I/O here.

Each decorator records a spec; argument and return types are turned into msgspec types lazily
(on first use) so that forward references resolve once the module has finished importing.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, overload

import msgspec

from .._wire import subjects as _subjects
from .errors import BadRequest

__all__ = [
    "ConfigSpec",
    "EventDescriptor",
    "HandlerSpec",
    "Signature",
    "TickerSpec",
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


class Signature:
    """msgspec types for one handler's keyword arguments and return value."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.name = func.__qualname__
        sig = inspect.signature(func)
        try:
            hints = typing.get_type_hints(func)
        except Exception:
            hints = {}
        params = list(sig.parameters.values())[1:]  # the first parameter receives the actor
        fields: list[Any] = []
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise TypeError(
                    f"{self.name}: parameter {p.name!r} must be a plain or keyword-only "
                    "parameter (arguments travel by name)"
                )
            ann = hints.get(p.name, Any)
            if p.default is inspect.Parameter.empty:
                fields.append((p.name, ann))
            else:
                fields.append((p.name, ann, p.default))
        self.params = [p.name for p in params]
        self.hints = {p.name: hints.get(p.name, Any) for p in params}
        self.args_type: type[msgspec.Struct] = msgspec.defstruct(
            f"{func.__name__}_args", fields, kw_only=True, forbid_unknown_fields=True
        )
        ret = hints.get("return", Any)
        self.return_type: Any = type(None) if ret is None else ret
        self.check_return = self.return_type is not Any
        self._args_decoder = msgspec.msgpack.Decoder(self.args_type)
        self._return_decoder = msgspec.msgpack.Decoder(self.return_type)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> msgspec.Struct:
        """Caller side: positional and keyword arguments → validated args (BadRequest if not)."""
        if args:
            if len(args) > len(self.params):
                raise BadRequest(
                    f"{self.name}: takes {len(self.params)} arguments, got {len(args)}"
                )
            for name, value in zip(self.params, args, strict=False):
                if name in kwargs:
                    raise BadRequest(f"{self.name}: got multiple values for argument {name!r}")
                kwargs[name] = value
        try:
            return msgspec.convert(kwargs, self.args_type)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"{self.name}: {exc}") from None

    def decode_args(self, body: bytes) -> dict[str, Any]:
        """Callee side: a request body → keyword arguments (BadRequest if they don't fit)."""
        try:
            args = self._args_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise BadRequest(f"{self.name}: {exc}") from None
        return {name: getattr(args, name) for name in self.params}

    def check_result(self, value: Any) -> Any:
        """Callee side: the handler's return value must match its annotation."""
        if not self.check_return or type(value) is self.return_type:
            return value
        try:
            return msgspec.convert(value, self.return_type, from_attributes=True)
        except msgspec.ValidationError as exc:
            raise TypeError(
                f"{self.name} returned a value that does not match its annotation: {exc}"
            ) from None

    def decode_result(self, body: bytes) -> Any:
        return self._return_decoder.decode(body)


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

    @property
    def name(self) -> str:
        return self.func.__name__


def spec_of(obj: object) -> HandlerSpec | TickerSpec | None:
    spec = getattr(obj, _SPEC_ATTR, None)
    return spec if isinstance(spec, HandlerSpec | TickerSpec) else None


def _parse_route(route: str | None, name: str, default_method: str) -> tuple[str, str]:
    if route is None:
        return default_method, "/" + _subjects.kebab(name)
    if not isinstance(route, str) or not route.strip():
        raise _subjects.SubjectError(f"{name}: route must be like 'GET /path', got {route!r}")
    parts = route.split()
    if len(parts) == 1:
        method, path = default_method, parts[0]
    elif len(parts) == 2:
        method, path = parts
    else:
        raise _subjects.SubjectError(f"{name}: route must be like 'GET /path', got {route!r}")
    method = _subjects.validate_method(method)
    if not path.startswith("/"):
        raise _subjects.SubjectError(f"{name}: path must start with '/', got {path!r}")
    if any(ch.isspace() for ch in path):
        raise _subjects.SubjectError(f"{name}: path must not contain spaces, got {path!r}")
    return method, path


def _check_handler(func: object, what: str) -> Callable[..., Awaitable[Any]]:
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"@{what} needs an 'async def' method, got {func!r}")
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
) -> Callable[[F], F]: ...


def endpoint(
    route: Any = None,
    /,
    *,
    port: int = _subjects.REQUEST_PORT,
    max_concurrent: int | None = None,
) -> Any:
    """Declare a request handler: bare means ``POST /<kebab-name>`` on port 443.

    ``max_concurrent`` bounds the calls running at once (default: the actor's
    ``max_concurrent``); a plain ``def`` handler runs in a worker thread.
    """
    if callable(route):
        return endpoint()(route)
    _subjects.validate_port(port)
    _check_bound(max_concurrent, "endpoint")

    def decorate(func: F) -> F:
        fn = _check_blocking_ok(func, "endpoint")
        method, path = _parse_route(route, fn.__name__, "POST")
        spec = HandlerSpec("endpoint", fn, method, path, port, max_concurrent=max_concurrent)
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
    _subjects.validate_port(port)

    def decorate(func: F) -> EventDescriptor:
        fn = _check_handler(func, "event")
        method, path = _parse_route(route, fn.__name__, "POST")
        return EventDescriptor(HandlerSpec("event", fn, method, path, port))

    return decorate


def sink(
    source: EventDescriptor, *, queue: str | None = None, max_concurrent: int | None = None
) -> Callable[[F], F]:
    """Handle another actor's event; replicas of one sink host share one delivery.

    ``max_concurrent`` as for `endpoint`; a plain ``def`` sink runs in a worker thread.
    """
    if not isinstance(source, EventDescriptor):
        raise TypeError(f"@sink takes an event such as Source.on_something, got {source!r}")
    _check_bound(max_concurrent, "sink")

    def decorate(func: F) -> F:
        fn = _check_blocking_ok(func, "sink")
        _check_sink_signature(fn, source)
        ev = source.spec
        spec = HandlerSpec(
            "sink", fn, ev.method, ev.path, ev.port, source, queue, max_concurrent=max_concurrent
        )
        setattr(fn, _SPEC_ATTR, spec)
        return func

    return decorate


def _check_sink_signature(fn: Callable[..., Any], source: EventDescriptor) -> None:
    want = Signature(source.spec.func)
    have = Signature(fn)
    where = f"sink {fn.__qualname__} for event {source.spec.func.__qualname__}"
    if want.params != have.params:
        raise TypeError(f"{where}: parameters {have.params} must match the event's {want.params}")
    for name in want.params:
        a, b = want.hints[name], have.hints[name]
        if a is not Any and b is not Any and a != b:
            raise TypeError(f"{where}: parameter {name!r} is {b!r}, the event declares {a!r}")


def ticker(*, seconds: float) -> Callable[[F], F]:
    """Run a method every ``seconds`` while the actor is up; an overlapping beat is skipped."""
    if not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"@ticker needs seconds > 0, got {seconds!r}")

    def decorate(func: F) -> F:
        fn = _check_handler(func, "ticker")
        setattr(fn, _SPEC_ATTR, TickerSpec(fn, float(seconds)))
        return func

    return decorate


class ConfigSpec(Generic[T]):
    """A configurable attribute: ``greeting: str = config("hello", doc="...")``."""

    def __init__(self, default: T, doc: str = "") -> None:
        self.default = default
        self.doc = doc
        self.name = ""
        self.owner: type | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner

    @property
    def annotation(self) -> Any:
        if self.owner is None:
            return Any
        try:
            return typing.get_type_hints(self.owner).get(self.name, Any)
        except Exception:
            return Any

    @overload
    def __get__(self, instance: None, owner: type) -> ConfigSpec[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        values: dict[str, Any] = getattr(instance, "_config_values", {})
        return values.get(self.name, self.default)


def config(default: T, *, doc: str = "") -> T:
    """Declare a config value with its default; typed as the value for the class body."""
    return ConfigSpec(default, doc)  # type: ignore[return-value]
