"""Identities: nkeys, a plane-pinned config, wrong secrets (failing at once, redacted), and
cancels that cross from a source to its sinks under the generated permissions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import trio

from actorbus import Actor, App, BusError, Forbidden, sink
from actorbus._app import random_plane
from actorbus._transport.credentials import (
    Credentials,
    CredentialsError,
    Identity,
    load_credentials,
    write_credentials,
)

from .actors import Sink, Source
from .conftest import Refusals, SecureBus, start_secure

pytestmark = pytest.mark.nats


async def test_nkeys_and_a_pinned_plane(tmp_path: Path, refusals: Refusals) -> None:
    bus = start_secure(tmp_path, nkeys=True, plane="sec")
    try:
        text = bus.conf.read_text()
        assert "password" not in text and "nkey:" in text
        for ident in [bus.creds.edge, *bus.creds.hosts.values()]:
            assert ident is not None and ident.seed and ident.seed not in text
        sink_ = Sink()
        with trio.fail_after(30):
            async with App(
                Source(), sink_, bus=bus.url, plane="sec", credentials=bus.creds_path
            ) as app:
                assert await app.client(Source).fire(n=4) == [8]
                users = await bus.connections()
                assert users["source.sec"] == bus.creds.hosts["source.sec"].nkey
            # another plane is outside every permission: the server refuses the edge's request,
            # and the caller hears so at once (not an AckTimeout saying it may have run)
            async with App(bus=bus.url, plane="elsewhere", credentials=bus.creds_path) as app:
                with pytest.raises(Forbidden, match="refused to let this connection publish"):
                    await app.client(Source).echo(text="x")
                await refusals.wait_for("publish", "elsewhere.443.app~actorbus.sec.source")
    finally:
        bus.server.stop()


def _with_password(creds: Credentials, host: str | None, password: str) -> Credentials:
    if host is None:
        assert creds.edge is not None
        return dataclasses.replace(creds, edge=dataclasses.replace(creds.edge, password=password))
    hosts = dict(creds.hosts)
    hosts[host] = dataclasses.replace(hosts[host], password=password)
    return dataclasses.replace(creds, hosts=hosts)


@pytest.mark.parametrize("who", [None, "source.sec"])
async def test_a_wrong_password_fails_at_once_and_redacted(
    secure_bus: SecureBus, tmp_path: Path, who: str | None
) -> None:
    wrong = "Wrong-Password-1234567890"
    path = tmp_path / "wrong.json"
    write_credentials(path, _with_password(secure_bus.creds, who, wrong))
    with trio.fail_after(10), pytest.raises(BusError) as info:
        async with App(Source(), bus=secure_bus.url, plane=random_plane(), credentials=path):
            pass
    message = str(info.value)
    assert "\n" not in message
    assert "authorization" in message.lower()
    assert wrong not in message and wrong not in repr(info.value)
    for secret in (i.password for i in [secure_bus.creds.edge, *secure_bus.creds.hosts.values()]):
        assert secret and secret not in message
    if who is not None:
        assert who in message  # names the actor whose identity was refused


def test_credentials_files_are_private_and_checked(tmp_path: Path) -> None:
    creds = Credentials(
        edge=Identity("edge.actorbus", user="edge.actorbus", password="pw-1"),
        hosts={"a.example": Identity("a.example", user="a.example", password="pw-2")},
    )
    path = tmp_path / "c.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_credentials(path, creds)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_credentials(path)
    assert loaded.for_host("a.example") == creds.hosts["a.example"]
    assert "pw-2" not in repr(loaded)
    bad = json.loads(path.read_text())
    bad["hosts"]["a.example"]["password"] = "has space"
    path.write_text(json.dumps(bad))
    with pytest.raises(CredentialsError) as info:
        load_credentials(path)
    assert "has space" not in str(info.value) and "a.example" in str(info.value)
    with pytest.raises(CredentialsError, match="not found"):
        load_credentials(tmp_path / "missing.json")


class Slow(Actor):
    """A sink that blocks until cancelled, and says so."""

    hostname = "sink.sec"

    def __init__(self) -> None:
        super().__init__()
        self.started = trio.Event()
        self.cancelled = trio.Event()

    @sink(Source.on_thing)
    async def handle(self, n: int) -> int:
        self.started.set()
        try:
            await trio.sleep_forever()
        finally:
            self.cancelled.set()


async def test_a_cancelled_event_reaches_its_sinks_without_refusal(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    slow = Slow()
    source = Source()
    with trio.fail_after(30):
        async with App(
            source, slow, bus=secure_bus.url, plane=random_plane(),
            credentials=secure_bus.creds_path,
        ):  # fmt: skip

            async def fire() -> None:
                async for _ in source.on_thing(n=1):
                    pass

            async with trio.open_nursery() as nursery:
                nursery.start_soon(fire)
                await slow.started.wait()
                nursery.cancel_scope.cancel()
            await slow.cancelled.wait()
    assert refusals.texts() == []


async def test_embedded_bus_with_credentials_shares_one_server(secure_bus: SecureBus) -> None:
    """``bus="embedded"`` starts one server (without authorization) that every identity joins."""
    sink_ = Sink()
    with trio.fail_after(30):
        async with App(Source(), sink_, bus="embedded", credentials=secure_bus.creds_path) as app:
            assert await app.client(Source).fire(n=6) == [12]
    assert sink_.seen == [6]
