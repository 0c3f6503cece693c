"""What a peer may put in a source's stream or on a live event subject: junk and frames that
name another event become dead letters (retrying cannot help), never a handler run; a live
frame's claim of a delivery count is not believed."""

from __future__ import annotations

import json

import pytest
import trio

from actorbus import App
from actorbus._transport.embedded import EmbeddedServer
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects

from ..cli.helpers import actorbus
from . import actors
from .actors import Files, Groups

pytestmark = pytest.mark.nats


def _frame(path: str, **extra: object) -> bytes:
    return _frames.encode(
        _frames.Request(
            msg_id="f1", from_host="users.example", from_instance="forged1",
            host="users.example", port=417, method="POST", path=path, depth=1,
            budget_ms=5000, body=_frames.encode_body({"user_id": 99}), multicast=True,
            oneway=True, **extra,  # type: ignore[arg-type]
        )
    )  # fmt: skip


async def test_junk_in_the_stream_becomes_a_dead_letter_and_runs_nothing(
    server: EmbeddedServer,
) -> None:
    actors.FILES.__init__()  # type: ignore[misc]
    plane = "junk1"
    subject = _subjects.request_subject(
        plane, 417, "users.example", "POST", "/on-user-deleted", source="users.example"
    )
    with trio.fail_after(60):
        async with App(Files(), bus=server.url, plane=plane) as app:
            app.transport.publish(subject, b"\xc1 not msgpack")
            app.transport.publish(subject, _frame("/on-something-else"))
            await app.transport.flush()
            while True:  # bounded by fail_after: each look is one short command
                done = await actorbus("dlq", "--json", "--nats", server.url, "--plane", plane)
                letters = [json.loads(line) for line in done.stdout.decode().splitlines()]
                if len(letters) == 2:
                    break
    errors = sorted(letter["error"] for letter in letters)
    assert errors[0].startswith("not an actorbus event"), errors
    assert errors[1].startswith("the frame does not name the event of "), errors
    assert all(letter["deliveries"] == "1" for letter in letters)
    assert actors.FILES.ids == []


async def test_a_live_frame_cannot_claim_a_delivery_count() -> None:
    actors.GROUPS.__init__()  # type: ignore[misc]
    async with App(Groups(), bus="memory", plane="claim1") as app:
        subject = _subjects.request_subject(
            "claim1", 417, "users.example", "POST", "/on-user-deleted", source="users.example"
        )
        app.transport.publish(subject, _frame("/on-user-deleted", delivered=7))
        with trio.fail_after(10):
            await actors.GROUPS.wait_for(1)
    assert actors.GROUPS.ids == [(99, "forged1.f1", 0)]
