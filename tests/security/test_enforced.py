"""The generated permissions, enforced by a real nats-server: the legitimate traffic flows, the
spoofs are refused by the server and run nothing."""

from __future__ import annotations

import json

import msgspec
import pytest
import trio
import trio_websocket

from actorbus import App
from actorbus._app import open_bus, random_plane
from actorbus._tracer.server import TracerServer
from actorbus._transport.base import Message
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects

from .actors import Other, Sink, Source
from .conftest import Refusals, SecureBus

pytestmark = pytest.mark.nats


def _event_frame(n: int, from_host: str = "source.sec") -> bytes:
    """The frame a source would multicast for ``on_thing(n=n)``."""
    return _frames.encode(
        _frames.Request(
            msg_id="spoof1",
            from_host=from_host,
            from_instance="abc123",
            host="source.sec",
            port=_subjects.EVENT_PORT,
            method="POST",
            path="/on-thing",
            depth=1,
            budget_ms=5000,
            body=_frames.encode_body({"n": n}),
            multicast=True,
        )
    )


async def test_legitimate_traffic_flows(secure_bus: SecureBus, refusals: Refusals) -> None:
    plane = random_plane()
    sink = Sink()
    with trio.fail_after(30):
        async with App(
            Source(), sink, Other(), bus=secure_bus.url, plane=plane,
            credentials=secure_bus.creds_path,
        ) as app:  # fmt: skip
            assert await app.client(Source).fire(n=21) == [42]
            assert sink.seen == [21]
            assert await app.client(Source).echo(text="x") == "x"
            assert await app.client(Other).hello() == "hi"
            pings = app.caller.multicast(
                "all", _subjects.CONTROL_PORT, "GET", "/ping", _frames.EMPTY_BODY,
                msgspec.msgpack.decode,
            )  # fmt: skip
            hosts = sorted([r.host async for r in pings if r.ok])
            assert hosts == ["other.sec", "sink.sec", "source.sec"]
            # each actor connected on a connection of its own, as itself; the App as the edge
            users = await secure_bus.connections()
            for host in ("source.sec", "sink.sec", "other.sec"):
                assert users[host] == host
            assert sorted(users.values()) == sorted(
                ["edge.actorbus", "source.sec", "sink.sec", "other.sec"]
            )
    assert refusals.texts() == []


async def test_spoofed_events_are_refused_and_run_no_sink(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    plane = random_plane()
    sink = Sink()
    with trio.fail_after(30):
        async with App(
            Source(), sink, bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ) as app:
            for who, own in (
                (secure_bus.creds.for_host("other.sec"), "other.sec"),
                (secure_bus.creds.edge, "cli.actorbus"),
            ):
                assert who is not None
                async with open_bus(secure_bus.url, who) as spoofer:
                    for source in ("source.sec", own):  # in the source's name, or its own
                        subject = _subjects.request_subject(
                            plane, _subjects.EVENT_PORT, "source.sec", "POST", "/on-thing",
                            source=source,
                        )  # fmt: skip
                        spoofer.publish(subject, _event_frame(666, source))
                        text = await refusals.wait_for(subject, repr(who.name))
                        assert "publish" in text.lower()
            # the server refused both before delivering anything: a legitimate event, sent
            # after the refusals, is the only one the sink ever sees
            assert await app.client(Source).fire(n=1) == [2]
            assert sink.seen == [1]


async def test_event_frame_on_a_sinks_request_subject_does_not_run_it(
    secure_bus: SecureBus,
) -> None:
    """The edge may send requests; an event frame sent to the sink's own subjects must still
    not run the sink (the handler comes from the subject, not from the frame)."""
    plane = random_plane()
    sink = Sink()
    with trio.fail_after(30):
        async with App(
            Source(), sink, bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ):
            async with open_bus(secure_bus.url, secure_bus.creds.edge) as edge:
                replies: list[Message] = []
                got = trio.Event()

                def on_reply(msg: Message) -> None:
                    replies.append(msg)
                    got.set()

                reply_prefix = _subjects.reply_prefix(plane, "spoof.actorbus", "abc123")
                mine = _subjects.reply_subscription(plane, "spoof.actorbus", "abc123")
                await edge.subscribe(mine, on_reply)
                spoof = "spoof.actorbus"
                targets = [
                    _subjects.request_subject(
                        plane, 443, "sink.sec", "POST", "/on-thing", source=spoof
                    ),
                    _subjects.request_subject(
                        plane, 443, "sink.sec", "POST", "/on-thing", source=spoof,
                        instance=sink.instance,
                    ),
                ]  # fmt: skip
                for target in targets:
                    replies.clear()
                    got = trio.Event()
                    edge.publish(target, _event_frame(7, spoof), reply=reply_prefix + ".spoof1")
                    await got.wait()  # a refusal, or the server's "no responders"
                    frame = None if replies[0].no_responders else _frames.decode(replies[0].data)
                    assert frame is None or isinstance(frame, _frames.Fault), frame
                    assert frame is None or 400 <= frame.status < 500, frame
            assert sink.seen == []


async def test_actor_cannot_subscribe_to_another_hosts_subjects(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    plane = random_plane()
    other = secure_bus.creds.for_host("other.sec")
    assert other is not None
    stolen: list[Message] = []
    with trio.fail_after(30):
        async with (
            App(
                Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
            ) as app,
            open_bus(secure_bus.url, other) as thief,
        ):
            wanted = [
                (f"{plane}.443.*.sec.source.>", None),  # the source's requests
                (f"{plane}.r.*.sec.source.>", None),  # its replies
                (f"{plane}.r.*.actorbus.>", None),  # the edge's replies
                # the sink's event subscription, in the sink's queue group
                (
                    _subjects.subscription_subject(plane, 417, "source.sec", "POST", "/on-thing"),
                    "sink.sec",
                ),
            ]
            for subject, queue in wanted:
                await thief.subscribe(subject, stolen.append, queue=queue)
                text = await refusals.wait_for(subject, "'other.sec'")
                assert "subscription" in text.lower()
            await thief.flush()
            # traffic on all of those subjects now reaches its owners, never the thief
            assert await app.client(Source).fire(n=3) == [6]
            assert await app.client(Source).echo(text="private") == "private"
            await thief.flush()
    assert stolen == []


async def test_tracer_and_control_work_under_the_acl(
    secure_bus: SecureBus, refusals: Refusals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracer connects as the edge and sees every actor's spans; the credentials come
    from ``ACTORBUS_CREDENTIALS``."""
    monkeypatch.setenv("ACTORBUS_CREDENTIALS", str(secure_bus.creds_path))
    plane = random_plane()
    with trio.fail_after(30):
        async with (
            App(Source(), Sink(), bus=secure_bus.url, plane=plane) as app,
            open_bus(secure_bus.url, secure_bus.creds.edge) as tracer_bus,
            trio.open_nursery() as nursery,
        ):
            tracer = TracerServer(tracer_bus, plane)
            await nursery.start(tracer.serve, "127.0.0.1", 0)
            url = f"ws://127.0.0.1:{tracer.port}/ws"
            async with trio_websocket.open_websocket_url(url) as ws:
                assert json.loads(await ws.get_message())["notice"] == "hello"
                for hub in [app.hub, *app._hubs.values()]:
                    await hub.tracer.wait_listening()
                assert await app.client(Source).fire(n=1) == [2]
                hosts: set[str] = set()
                while not {"source.sec", "sink.sec"} <= hosts:
                    span = json.loads(await ws.get_message())
                    hosts |= {span.get("to_host", ""), span.get("from_host", "")}
            nursery.cancel_scope.cancel()
    assert refusals.texts() == []
