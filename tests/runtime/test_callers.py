"""``callers=``: who may call a handler, and the authentic caller a handler sees."""

from __future__ import annotations

import pytest

from actorbus import Actor, App, Forbidden, MemoryBus, current_request, endpoint, event, sink


class Vault(Actor):
    hostname = "vault.test"

    @endpoint(callers=["billing.test"])
    async def secret(self) -> str:
        return "s3cret"

    @endpoint
    async def who(self) -> str:
        return current_request().from_host


class Locked(Actor):
    hostname = "locked.test"
    callers = ["billing.test"]

    @endpoint
    async def open(self) -> str:
        return "open"

    @endpoint(callers=["app.actorbus"])  # its own list wins over the class's
    async def public(self) -> str:
        return "public"


class Billing(Actor):
    hostname = "billing.test"

    @endpoint
    async def fetch(self) -> str:
        return await self.client(Vault).secret()

    @endpoint
    async def ask_who(self) -> str:
        return await self.client(Vault).who()

    @endpoint
    async def open_locked(self) -> str:
        return await self.client(Locked).open()


async def test_only_listed_callers_get_in(bus: str, plane: str) -> None:
    async with App(Vault(), Locked(), Billing(), bus=bus, plane=plane) as app:
        assert await app.client(Billing).fetch() == "s3cret"  # billing.test is listed
        with pytest.raises(Forbidden, match=r"app\.actorbus may not call secret") as info:
            await app.client(Vault).secret()  # the App's edge is not
        assert info.value.status == 403
        assert await app.client(Billing).open_locked() == "open"
        with pytest.raises(Forbidden):
            await app.client(Locked).open()
        assert await app.client(Locked).public() == "public"


async def test_refused_over_the_bus_too(bus: str, plane: str) -> None:
    """Not co-located: the request crosses the bus and the responder refuses it there."""
    vault = Vault()
    shared = MemoryBus() if bus == "memory" else bus
    async with App(vault, bus=shared, plane=plane), App(bus=shared, plane=plane) as other:
        with pytest.raises(Forbidden):
            await other.client(Vault).secret()
        assert vault.stats.wire["forbidden"] == 1
        assert await other.client(Vault).who() == "app.actorbus"


async def test_a_handler_sees_its_caller(bus: str, plane: str) -> None:
    async with App(Vault(), Billing(), bus=bus, plane=plane) as app:
        assert await app.client(Billing).ask_who() == "billing.test"
        assert await app.client(Vault).who() == "app.actorbus"


def test_current_request_outside_a_handler() -> None:
    with pytest.raises(RuntimeError, match="only available while a handler runs"):
        current_request()


class Source(Actor):
    hostname = "source.test"

    @event
    async def on_thing(self, n: int) -> int: ...


@pytest.mark.parametrize(
    ("callers", "error"),
    [
        ("billing.test", TypeError),  # a string, not a list
        ([], ValueError),  # admits nobody
        (["Billing.Test"], ValueError),  # not a hostname (SubjectError is a ValueError)
        (42, TypeError),
    ],
)
def test_bad_callers_are_refused_at_declaration(callers: object, error: type) -> None:
    with pytest.raises(error, match="callers"):
        endpoint(callers=callers)  # type: ignore[arg-type]
    with pytest.raises(error, match="callers"):
        sink(Source.on_thing, callers=callers)  # type: ignore[arg-type]
    with pytest.raises(error, match="callers"):
        type("Bad", (Actor,), {"hostname": "bad.test", "callers": callers})
