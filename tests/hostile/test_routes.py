"""The subject names the route: `request_matches`, and routes on any method."""

from __future__ import annotations

import pytest

from actorbus import Actor, App, MemoryBus, endpoint
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as subj

from .peers import PEER_ACK_WINDOW, frames_in, inbox_of, request, subject


@pytest.mark.parametrize("instance", [None, "abc123", subj.ALL_REPLICAS])
@pytest.mark.parametrize("path", ["/x", "/a/b.c", "/", "/ü/%/*/>"])
def test_a_request_matches_its_own_subject(instance: str | None, path: str) -> None:
    s = subj.request_subject(
        "p0", 443, "users.example", "POST", path, source="a.example", instance=instance
    )
    assert subj.request_matches(
        s, "p0", 443, "users.example", "POST", path, instance, source="a.example"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"port": 417},
        {"host": "files.example"},
        {"method": "GET"},
        {"path": "/y"},
        {"plane": "p1"},
        {"instance": "zzz999"},
        {"instance": None},
        {"path": "/x" * 10_000},  # never built: longer than the subject
        {"source": "b.example"},  # another caller than the subject's
        {"source": "a"},
    ],
)
def test_any_other_field_does_not(change: dict[str, object]) -> None:
    s = subj.request_subject(
        "p0", 443, "users.example", "POST", "/x", source="a.example", instance="abc123"
    )
    fields: dict[str, object] = {
        "source": "a.example",
        "plane": "p0",
        "port": 443,
        "host": "users.example",
        "method": "POST",
        "path": "/x",
        "instance": "abc123",
    }
    fields.update(change)
    assert not subj.request_matches(s, **fields)  # type: ignore[arg-type]


class Anything(Actor):
    hostname = "anything.test"

    @endpoint("GET /any")
    async def any_(self) -> str:
        return "ok"


async def test_a_route_takes_only_the_method_its_subject_names(plane: str) -> None:
    bus = MemoryBus()
    actor = Anything()
    async with (
        App(actor, bus=bus, plane=plane),
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        assert await peer.client(Anything).any_() == "ok"
        value = await peer.caller.call(
            "anything.test", 443, "GET", "/any", _frames.EMPTY_BODY, _frames.msgspec.msgpack.decode
        )
        assert value == "ok"
        prefix, inbox = await inbox_of(peer)
        frame = request("anything.test", "/any", {}, method="DELETE")
        peer.transport.publish(
            subject(peer, "anything.test", "/any", method="GET"),
            _frames.encode(frame),
            reply=prefix + ".1",
        )
        await inbox.wait_for(1)
        (fault,) = [f for f in frames_in(inbox) if isinstance(f, _frames.Fault)]
        assert fault.status == 400
        assert actor.stats.wire["mismatch"] == 1
