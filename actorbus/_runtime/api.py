"""API classes: a host's endpoints and events with their types, and nothing else.

``class UsersApi(Api)`` is what callers and sinks import (``self.client(UsersApi)``,
``@sink(UsersApi.on_user_deleted)``), so they never load the implementation and its imports.
The implementation inherits its API, ``class Users(UsersApi, Actor)``: it gets the hostname and
the events, and mypy checks each endpoint it overrides against the API's. When the class is
defined, `check_implementation` refuses a missing endpoint, an extra route and a differing
route or signature.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Self

from .._wire import subjects as _subjects
from .declarations import (
    ConfigSpec,
    EventDescriptor,
    HandlerSpec,
    TickerSpec,
    UnresolvedHint,
    check_later,
    spec_of,
)
from .shapes import Declares

__all__ = ["ACTOR_MARK", "API_MARK", "Api", "check_implementation", "is_api"]

#: Set in the own ``__dict__`` of every API class (never inherited by the check).
API_MARK = "__actorbus_api__"


def is_api(cls: type) -> bool:
    """True for a class that declares an API (not for the actors implementing one)."""
    return bool(vars(cls).get(API_MARK, False))


#: Set on `Actor` itself: an API class that an actor class inherits sees it on its subclass.
ACTOR_MARK = "__actorbus_actor__"


def _is_actor(cls: type) -> bool:
    return bool(getattr(cls, ACTOR_MARK, False))


class Api:
    """Base of API classes: set ``hostname``; declare ``@endpoint`` and ``@event`` methods
    whose bodies are ``...``. An API class never runs; its implementation does."""

    hostname: ClassVar[str]
    _handlers: ClassVar[tuple[HandlerSpec, ...]] = ()
    _endpoints: ClassVar[dict[str, HandlerSpec]] = {}
    _events: ClassVar[dict[str, EventDescriptor]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _is_actor(cls):
            return  # an implementation: `Actor.__init_subclass__` collects and checks it
        where = cls.__qualname__
        host = cls.__dict__.get("hostname", getattr(cls, "hostname", None))
        if not isinstance(host, str):
            raise TypeError(f"{where}: an Api class must set a class attribute 'hostname'")
        try:
            cls.hostname = _subjects.validate_hostname(host)
        except _subjects.SubjectError as exc:
            raise _subjects.SubjectError(f"{where}: {exc}") from None
        handlers: dict[str, HandlerSpec] = {}
        events: dict[str, EventDescriptor] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, EventDescriptor):
                    events[name] = value
                    handlers[name] = value.spec
                    continue
                spec = spec_of(value)
                if isinstance(spec, HandlerSpec) and spec.kind == "endpoint":
                    handlers[name] = spec
                elif spec is not None or isinstance(value, ConfigSpec):
                    what = "a ticker" if isinstance(spec, TickerSpec) else None
                    what = what or ("a sink" if spec is not None else "a config value")
                    raise TypeError(
                        f"{where}.{name}: an Api declares endpoints and events only, not "
                        f"{what}; put it in the implementation"
                    )
        setattr(cls, API_MARK, True)
        cls._handlers = tuple(handlers.values())
        cls._endpoints = {n: s for n, s in handlers.items() if s.kind == "endpoint"}
        cls._events = events
        _check_api_routes(cls)
        for spec in cls._handlers:
            check_later(spec)

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if not _is_actor(cls):
            raise TypeError(
                f"{cls.__name__} is an API: it cannot run; instantiate its implementation "
                f"(class {cls.__name__.removesuffix('Api') or 'Impl'}({cls.__name__}, Actor))"
            )
        return super().__new__(cls, *args, **kwargs)

    @classmethod
    def host(cls) -> str:
        """The validated hostname."""
        return _subjects.validate_hostname(cls.hostname)


def _route(spec: HandlerSpec) -> str:
    return f"{spec.method} :{spec.port}{spec.path}"


def _check_api_routes(cls: type[Api]) -> None:
    seen: dict[tuple[int, str, str], HandlerSpec] = {}
    for spec in cls._handlers:
        other = seen.setdefault((spec.port, spec.method, spec.path), spec)
        if other is not spec:
            raise TypeError(
                f"{cls.__qualname__}: {other.name} and {spec.name} both declare {_route(spec)}"
            )


def _the_api(cls: type[Declares]) -> type[Api] | None:
    apis = [k for k in cls.__mro__ if is_api(k)]
    if not apis:
        return None
    first = apis[0]
    for other in apis[1:]:
        if not issubclass(first, other):
            raise TypeError(
                f"{cls.__qualname__}: implements both {first.__qualname__} and "
                f"{other.__qualname__}; an actor implements one API"
            )
    return first


def check_implementation(cls: type[Declares], *, final: bool = False) -> None:
    """Refuse an actor class that does not implement its API exactly (one-line TypeError).

    Routes and names are compared when the class is defined; signatures too, unless a hint
    does not resolve yet (a forward reference): then ``final=True`` (first instance) does it.
    """
    api = _the_api(cls)
    if api is None:
        return
    where, name_of_api = cls.__qualname__, api.__qualname__
    if cls.host() != api.host():
        raise TypeError(
            f"{where}: hostname {cls.host()!r} differs from {name_of_api}'s {api.host()!r}"
        )
    have = {s.name: s for s in cls._handlers if s.kind in ("endpoint", "event")}
    want = {s.name: s for s in api._handlers}
    for name, spec in want.items():
        if name not in have:
            raise TypeError(
                f"{where}: does not implement {spec.kind} {name_of_api}.{name} ({_route(spec)})"
            )
    for name, spec in have.items():
        if name not in want:
            raise TypeError(
                f"{where}.{name}: {spec.kind} {_route(spec)} is not in {name_of_api}; "
                "declare it there first"
            )
    for name, spec in have.items():
        _compare(f"{where}.{name}", spec, want[name], f"{name_of_api}.{name}", final)
        if not spec.func.__doc__:
            spec.func.__doc__ = want[name].func.__doc__  # the API documents it


def _compare(where: str, have: HandlerSpec, want: HandlerSpec, api: str, final: bool) -> None:
    if have is want:
        return  # an event inherited from the API as it is
    if have.kind != want.kind:
        raise TypeError(f"{where}: is an {have.kind}, {api} declares an {want.kind}")
    if _route(have) != _route(want):
        raise TypeError(f"{where}: serves {_route(have)}, {api} declares {_route(want)}")
    try:
        a, b = have.signature, want.signature
    except UnresolvedHint:
        if final:
            raise
        return
    if a.params != b.params:
        raise TypeError(f"{where}: arguments {a.params} differ from {api}'s {b.params}")
    for name in a.params:
        if a.hints[name] != b.hints[name]:
            raise TypeError(
                f"{where}: argument {name!r} is {_shown(a.hints[name])}, {api} declares "
                f"{_shown(b.hints[name])}"
            )
    da, db = _defaults(have), _defaults(want)
    for name in a.params:
        if da[name] != db[name]:
            raise TypeError(
                f"{where}: argument {name!r} {_default_text(da[name])}, {api}: "
                f"{_default_text(db[name])}"
            )
    if a.return_type != b.return_type:
        raise TypeError(
            f"{where}: returns {_shown(a.return_type)}, {api} declares {_shown(b.return_type)}"
        )


def _defaults(spec: HandlerSpec) -> dict[str, Any]:
    params = list(inspect.signature(spec.func).parameters.values())[1:]
    return {p.name: p.default for p in params}


def _default_text(default: Any) -> str:
    if default is inspect.Parameter.empty:
        return "is required"
    return f"defaults to {default!r}"


def _shown(hint: Any) -> str:
    if hint is type(None):
        return "None"
    return hint.__qualname__ if isinstance(hint, type) else repr(hint)
