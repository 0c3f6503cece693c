"""Durable sinks under the permissions ``actorbus acl`` derives: the sink host's JetStream
traffic flows, a dead letter is listed and replayed by the edge, and another host may not
pull the sink's consumer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from actorbus import App
from actorbus._cli.acl import derive_permissions, generate
from actorbus._transport.embedded import EmbeddedServer
from actorbus._wire import jetstream as _js

from ..cli.helpers import actorbus
from . import actors
from .actors import Cards, Files, Groups, Users

pytestmark = pytest.mark.nats


def test_the_sink_host_gets_exactly_its_consumer() -> None:
    perms, edge = derive_permissions([Users, Files, Groups], plane="p")
    stream = _js.stream_name("p", "users.example")
    consumer = _js.consumer_name("files.example", 417, "POST", "/on-user-deleted")
    files = perms["files.example"]
    assert f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}" in files.publish
    assert f"$JS.ACK.{stream}.{consumer}.>" in files.publish
    assert "p.js.example.files.>" in files.subscribe
    for host in ("users.example", "groups.example"):  # the source and a live sink: none
        assert not [s for s in perms[host].publish if s.startswith("$JS.")], host
        assert not [s for s in perms[host].subscribe if ".js." in s], host
    assert f"$JS.API.STREAM.MSG.GET.{_js.dlq_stream('p')}" in edge.publish
    assert not any(".js." in s for p in perms.values() for s in p.publish)  # inboxes: JS only


async def test_durable_sinks_and_dlq_under_the_generated_acl(tmp_path: Path) -> None:
    plane = "acl1"
    actors.FILES.__init__()  # type: ignore[misc]
    actors.CARDS.__init__()  # type: ignore[misc]
    Cards.fail = {2}
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    generate([Users, Files, Cards, Groups], str(conf), str(creds), plane=plane)
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server, trio.fail_after(60):
        async with App(
            Users(), Files(), Cards(), bus=server.url, plane=plane, credentials=str(creds)
        ) as app:
            users = app.actors[0]
            for user_id in (1, 2, 3):
                await users.on_user_deleted(user_id=user_id)
            await actors.FILES.wait_for(3)
            await actors.CARDS.wait_for(2)
            args = ("--nats", server.url, "--plane", plane, "--credentials", str(creds))
            while True:  # bounded by fail_after: each look is one short command
                done = await actorbus("dlq", "--json", *args)
                assert done.returncode == 0, done.stderr.decode()
                if done.stdout.strip():
                    break
            (letter,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
            assert letter["sink"] == "cards.example"
            Cards.fail = set()
            done = await actorbus("dlq", "cards.example", "--replay", *args)
            assert done.returncode == 0, done.stderr.decode()
            await actors.CARDS.wait_for(3)
    assert sorted(u for u, _, _ in actors.CARDS.ids) == [1, 2, 3]
