"""API classes: callers and sinks depend on ``UsersApi``; the implementation must match it
exactly, or the class is refused when it is defined."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from actorbus import Actor, Api, App, endpoint, event, sink

ROOT = Path(__file__).resolve().parents[2]


class Profile(msgspec.Struct):
    user_id: str
    email: str


class UsersApi(Api):
    """What the users service offers."""

    hostname = "users.api.test"

    @endpoint
    async def delete_user(self, user_id: str) -> int: ...

    @endpoint("GET /profile", port=444)
    async def profile(self, user_id: str, full: bool = False) -> Profile: ...

    @event
    async def on_user_deleted(self, user_id: str) -> bool: ...


class Users(UsersApi, Actor):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deleted: list[str] = []

    @endpoint
    async def delete_user(self, user_id: str) -> int:
        self.deleted.append(user_id)
        return sum([1 async for reply in self.on_user_deleted(user_id=user_id) if reply.value])

    @endpoint("GET /profile", port=444)
    async def profile(self, user_id: str, full: bool = False) -> Profile:
        return Profile(user_id, "full@example.com" if full else "")


class Files(Actor):
    """A sink that knows the API only."""

    hostname = "files.api.test"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.purged: list[str] = []
        self.done = trio.Event()

    @sink(UsersApi.on_user_deleted)
    async def purge(self, user_id: str) -> bool:
        self.purged.append(user_id)
        self.done.set()
        return True

    @endpoint
    async def ask_users(self, user_id: str) -> int:
        users = self.client(UsersApi)
        result: int = await users.delete_user(user_id=user_id)
        return result


async def test_client_and_sink_of_an_api_reach_the_implementation() -> None:
    users, files = Users(), Files()
    async with App(users, files, bus="memory") as app:
        assert await app.client(UsersApi).delete_user(user_id="u1") == 1
        assert files.purged == ["u1"] and users.deleted == ["u1"]
        assert await app.client(Files).ask_users(user_id="u2") == 1  # self.client(UsersApi)
        profile = await app.client(UsersApi).profile(user_id="u3", full=True)
        assert profile == Profile("u3", "full@example.com")


def test_the_implementation_inherits_hostname_and_events() -> None:
    assert Users.host() == "users.api.test"
    assert set(Users._events) == {"on_user_deleted"}
    assert {s.name for s in Users._handlers} == {"delete_user", "profile", "on_user_deleted"}
    assert Users._endpoints["delete_user"].func is Users.__dict__["delete_user"]


def test_an_api_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="UsersApi is an API: it cannot run"):
        UsersApi()


def test_an_api_declares_endpoints_and_events_only() -> None:
    with pytest.raises(TypeError, match=r"NoSinks\.purge: an Api declares endpoints and events"):

        class NoSinks(Api):
            hostname = "nosinks.api.test"

            @sink(UsersApi.on_user_deleted)
            async def purge(self, user_id: str) -> bool: ...

    with pytest.raises(TypeError, match="must set a class attribute 'hostname'"):

        class NoHost(Api):
            @endpoint
            async def x(self) -> int: ...


def _define(*methods: Any, **attrs: Any) -> type[Actor]:
    """An implementation of UsersApi made of ``methods`` (each decorated already)."""
    body: dict[str, Any] = {m.__name__ if callable(m) else m.spec.name: m for m in methods}
    body.update(attrs)
    return type("Impl", (UsersApi, Actor), body)


async def _delete_user(self: Any, user_id: str) -> int:
    return 0


async def _profile(self: Any, user_id: str, full: bool = False) -> Profile:
    return Profile(user_id, "")


def _named(func: Any, name: str) -> Any:
    func.__name__ = func.__qualname__ = name
    return func


def _fn(src: str) -> Any:
    namespace: dict[str, Any] = {"Profile": Profile}
    exec(src, namespace)
    return next(v for k, v in namespace.items() if k not in ("Profile", "__builtins__"))


GOOD_PROFILE = "async def profile(self, user_id: str, full: bool = False) -> Profile: ..."
GOOD_DELETE = "async def delete_user(self, user_id: str) -> int: ..."


@pytest.mark.parametrize(
    ("delete", "profile", "problem"),
    [
        (None, GOOD_PROFILE, r"Impl: does not implement endpoint UsersApi.delete_user"),
        (
            "async def remove_user(self, user_id: str) -> int: ...",
            GOOD_PROFILE,
            r"does not implement endpoint UsersApi\.delete_user \(POST :443/delete-user\)",
        ),
        (
            GOOD_DELETE.replace("user_id: str", "uid: str"),
            GOOD_PROFILE,
            r"Impl\.delete_user: arguments \['uid'\] differ from UsersApi\.delete_user's "
            r"\['user_id'\]",
        ),
        (
            GOOD_DELETE.replace("user_id: str", "user_id: int"),
            GOOD_PROFILE,
            r"Impl\.delete_user: argument 'user_id' is int, UsersApi\.delete_user declares str",
        ),
        (
            GOOD_DELETE.replace("-> int", "-> str"),
            GOOD_PROFILE,
            r"Impl\.delete_user: returns str, UsersApi\.delete_user declares int",
        ),
        (
            GOOD_DELETE,
            GOOD_PROFILE.replace("full: bool = False", "full: bool"),
            r"Impl\.profile: argument 'full' is required, UsersApi\.profile: defaults to False",
        ),
    ],
)
def test_a_differing_signature_is_refused(delete: str | None, profile: str, problem: str) -> None:
    methods = [endpoint("GET /profile", port=444)(_fn(profile))]
    if delete is not None:
        methods.append(endpoint(_fn(delete)))
    with pytest.raises(TypeError, match=problem) as info:
        _define(*methods)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("route", "port", "problem"),
    [
        ("GET /profile", 443, r"serves GET :443/profile, UsersApi\.profile declares GET :444"),
        ("POST /profile", 444, r"serves POST :444/profile, UsersApi\.profile declares GET :444"),
        ("GET /profiles", 444, r"serves GET :444/profiles, UsersApi\.profile declares"),
    ],
)
def test_a_differing_route_is_refused(route: str, port: int, problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        _define(endpoint(_fn(GOOD_DELETE)), endpoint(route, port=port)(_fn(GOOD_PROFILE)))


def test_an_extra_route_is_refused() -> None:
    extra = endpoint(_fn("async def extra(self) -> int: ..."))
    good = endpoint(_fn(GOOD_DELETE)), endpoint("GET /profile", port=444)(_fn(GOOD_PROFILE))
    with pytest.raises(TypeError, match=r"Impl\.extra: endpoint POST :443/extra is not in"):
        _define(*good, extra)
    extra_event = event(_fn("async def on_other(self) -> None: ..."))
    with pytest.raises(TypeError, match=r"Impl\.on_other: event POST :417/on-other is not in"):
        _define(
            endpoint(_fn(GOOD_DELETE)),
            endpoint("GET /profile", port=444)(_fn(GOOD_PROFILE)),
            extra_event,
        )


def test_a_redeclared_event_must_match() -> None:
    changed = event(_fn("async def on_user_deleted(self, user_id: str) -> int: ..."))
    with pytest.raises(TypeError, match=r"on_user_deleted: returns int, UsersApi\.on_user_deleted"):
        _define(
            endpoint(_fn(GOOD_DELETE)),
            endpoint("GET /profile", port=444)(_fn(GOOD_PROFILE)),
            changed,
        )


def test_a_different_hostname_is_refused() -> None:
    with pytest.raises(TypeError, match=r"hostname 'other\.api\.test' differs from UsersApi's"):
        _define(
            endpoint(_fn(GOOD_DELETE)),
            endpoint("GET /profile", port=444)(_fn(GOOD_PROFILE)),
            hostname="other.api.test",
        )


def test_sinks_and_tickers_of_an_implementation_are_its_own_business() -> None:
    class Busy(UsersApi, Actor):
        @endpoint
        async def delete_user(self, user_id: str) -> int:
            return 0

        @endpoint("GET /profile", port=444)
        async def profile(self, user_id: str, full: bool = False) -> Profile:
            return Profile(user_id, "")

        @sink(UsersApi.on_user_deleted)
        async def audit(self, user_id: str) -> bool:
            return True

    assert {s.kind for s in Busy._handlers} == {"endpoint", "event", "sink"}


class LaterApi(Api):
    hostname = "later.api.test"

    @endpoint
    async def get(self) -> DefinedAfter: ...


class LaterImpl(LaterApi, Actor):
    """Its hint names a Struct defined after the class: compared on the first instance."""

    @endpoint
    async def get(self) -> AlsoAfter:
        return AlsoAfter(1)


class DefinedAfter(msgspec.Struct):
    n: int


class AlsoAfter(msgspec.Struct):
    n: int


def test_forward_references_are_compared_on_the_first_instance() -> None:
    with pytest.raises(TypeError, match=r"LaterImpl\.get: returns AlsoAfter, LaterApi\.get"):
        LaterImpl()


HONEST = """# mypy: disable-error-code="empty-body"
from actorbus import Actor, Api, endpoint


class ThingsApi(Api):
    hostname = "things.example"

    @endpoint
    async def get(self, thing_id: str) -> int: ...


class Things(ThingsApi, Actor):
    @endpoint
    async def get(self, thing_id: int) -> int:
        return thing_id
"""


@pytest.mark.slow
def test_mypy_checks_an_implementation_against_its_api(tmp_path: Path) -> None:
    """The split example type-checks; an endpoint whose argument type differs from the API's
    is a mypy error (the implementation subclasses its API)."""
    bad = tmp_path / "honest.py"
    bad.write_text(HONEST)
    events = ROOT / "examples" / "events"
    files = [str(events / name) for name in ("users_api.py", "users.py", "sinks.py")]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files, str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert 'honest.py:14: error: Argument 1 of "get" is incompatible with supertype' in errors[0]
