"""Mistakes in an actor class are refused when it is defined (or, for a hint that may still be a
forward reference, when it is instantiated), with the class, the method and the problem named."""

from __future__ import annotations

import threading
from typing import Any

import msgspec
import pytest

from actorbus import Actor, App, BadRequest, RemoteError, config, endpoint, event, sink


class LaterArgs(msgspec.Struct):
    n: int


class Forward(Actor):
    """Its hints name a Struct defined after the class: they resolve once the module is done."""

    hostname = "forward.example"

    @endpoint
    async def take(self, arg: DefinedLater) -> DefinedLater:
        return arg


class DefinedLater(msgspec.Struct):
    n: int


class Outer(msgspec.Struct):
    inner: InnerLater


class UsesOuter(Actor):
    """A Struct defined before the class has a field typed by one defined after it."""

    hostname = "outer.example"

    @endpoint
    async def take(self, arg: Outer) -> Outer:
        return arg


class InnerLater(msgspec.Struct):
    n: int


@pytest.mark.parametrize(
    ("hostname", "problem"),
    [("Bad_Host!", "invalid hostname 'Bad_Host!'"), ("Upper.Example", "use lower case")],
)
def test_bad_hostnames_are_refused_at_definition(hostname: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        type("Bad", (Actor,), {"hostname": hostname})
    assert str(info.value).startswith("Bad: ")


def test_upper_case_hostname_is_not_lowered() -> None:
    with pytest.raises(ValueError, match=r"'upper\.example'"):
        type("Upper", (Actor,), {"hostname": "Upper.Example"})


def test_unresolvable_hint_is_refused_with_its_parameter() -> None:
    class Typo(Actor):
        hostname = "typo.example"

        @endpoint
        async def greet(self, name: Strr) -> str:  # type: ignore[name-defined]  # noqa: F821
            return "hi"

    with pytest.raises(TypeError, match=r"Typo\.greet: parameter 'name'.*'Strr'"):
        Typo()


@pytest.mark.parametrize(
    ("hint", "name"), [(threading.Lock, "allocate_lock|lock"), (type("Plain", (), {}), "Plain")]
)
def test_unsupported_types_are_refused_at_definition(hint: Any, name: str) -> None:
    async def handler(self: Any, thing: Any) -> None: ...

    handler.__annotations__["thing"] = hint
    handler.__qualname__ = "Holder.handler"
    with pytest.raises(TypeError, match=rf"Holder\.handler: parameter 'thing': type ({name})"):
        endpoint(handler)


def test_unsupported_return_type_is_refused() -> None:
    with pytest.raises(TypeError, match=r"\.lock: the return annotation: type"):

        class Locker(Actor):
            hostname = "locker.example"

            @endpoint
            async def lock(self) -> threading.Lock:  # type: ignore[valid-type]
                return threading.Lock()


@pytest.mark.parametrize(
    ("decorate", "problem"),
    [
        (lambda: endpoint("GET /items/x{id}"), "must be a whole segment"),
        (lambda: endpoint("GET /items/{}"), "needs a parameter name"),
        (lambda: endpoint("GET /{rest...}/x"), "must be the last segment"),
        (lambda: endpoint("GET /{a}/{a}"), "appears twice"),
        (lambda: endpoint(port=888), "reserved for the control plane"),
        (lambda: endpoint(port=70000), "invalid port"),
        (lambda: event("ANY /x"), "method ANY is not supported"),
        (lambda: event("POST /x/{id}"), "segments are not supported"),
        (lambda: event(port=0), "port 0"),
    ],
    ids=[
        "brace-inside", "no-name", "greedy-not-last", "twice", "port888", "port-range",
        "event-any", "event-param", "event-port0",
    ],
)  # fmt: skip
def test_bad_routes_are_refused(decorate: Any, problem: str) -> None:
    async def handler(self: Any) -> None: ...

    with pytest.raises(ValueError, match=problem) as info:
        decorate()(handler)
    assert "handler" in str(info.value)


def test_a_path_argument_must_be_a_parameter() -> None:
    async def handler(self: Any, name: str) -> None: ...

    with pytest.raises(TypeError, match=r"names \{id\}, not a parameter"):
        endpoint("GET /items/{id}")(handler)
    endpoint("GET /items/{name}")(handler)  # fine
    endpoint("ANY /x", port=0)(handler)  # every method, every port


def test_two_handlers_on_one_route_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Twice: one and two both serve GET :443/x"):

        class Twice(Actor):
            hostname = "twice.example"

            @endpoint("GET /x")
            async def one(self) -> None: ...

            @endpoint("GET /x")
            async def two(self) -> None: ...


def test_sink_mismatch_found_after_forward_reference() -> None:
    class Source(Actor):
        hostname = "source.example"

        @event
        async def on_thing(self, n: int) -> None: ...

    with pytest.raises(TypeError, match="must match"):

        @sink(Source.on_thing)
        async def wrong(self: Any, m: int) -> None: ...


async def test_forward_reference_inside_a_struct() -> None:
    async with App(UsesOuter()) as app:
        assert await app.client(UsesOuter).take(arg=Outer(InnerLater(1))) == Outer(InnerLater(1))


async def test_forward_reference_validates() -> None:
    async with App(Forward()) as app:
        got = await app.client(Forward).take(arg=DefinedLater(3))
        assert got == DefinedLater(3)
        with pytest.raises(BadRequest, match="Expected `int`"):
            await app.client(Forward).take(arg={"n": "x"})


class Greeter(Actor):
    hostname = "greeter.example"
    greeting: str = config("hello")

    @endpoint
    async def hi(self) -> str:
        return self.greeting


class ForgetsConfig(Greeter):
    """A subclass ``__init__`` that takes config= but does not pass it on."""

    def __init__(self, *, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.extra = 1


class SkipsSuper(Greeter):
    def __init__(self, **kwargs: Any) -> None:
        self.extra = 2


class PassesItsOwn(Greeter):
    def __init__(self, greeting: str) -> None:
        super().__init__(config={"greeting": greeting})


@pytest.mark.parametrize(
    ("make", "want"),
    [
        (lambda: ForgetsConfig(config={"greeting": "hey"}), "hey"),
        (lambda: SkipsSuper(config={"greeting": "yo"}), "yo"),
        (lambda: PassesItsOwn("howdy"), "howdy"),
        (lambda: Greeter(config={"greeting": "plain"}), "plain"),
    ],
    ids=["forgets", "skips-super", "passes-its-own", "plain"],
)
async def test_config_is_never_lost(make: Any, want: str) -> None:
    actor = make()
    async with App(actor) as app:
        assert await app.client(type(actor)).hi() == want
    assert actor.instance


class Failing(Actor):
    hostname = "failing.example"

    @endpoint
    async def fail(self) -> None:
        raise ValueError("on purpose")


async def test_app_lets_a_lone_exception_out_as_itself() -> None:
    with pytest.raises(RemoteError, match="on purpose") as info:
        async with App(Failing()) as app:
            await app.client(Failing).fail()
    assert info.value.remote_type == "ValueError"
    with pytest.raises(KeyError):
        async with App(Failing()):
            raise KeyError("mine")


async def test_app_keeps_groups_for_concurrent_failures() -> None:
    async def boom(text: str) -> None:
        raise ValueError(text)

    with pytest.raises(BaseExceptionGroup) as info:
        async with App(Failing()) as app:
            app._nursery.start_soon(boom, "a")  # type: ignore[union-attr]
            raise KeyError("b")
    assert {type(e) for e in info.value.exceptions} == {ValueError, KeyError}
