"""Replies name their sender in the subject, and nats-server checks it: under the generated
ACLs no actor can answer a call in another host's name (a sink for another sink included), nor
forge nats-server's own no-responders status, which would make a caller believe a call that
ran "did not run"; nor declare another actor's instances dead."""

from __future__ import annotations

import pytest
import trio

from actorbus import App
from actorbus._app import open_bus, random_plane
from actorbus._wire import subjects as _subjects
from actorbus._wire.directory import Announce, encode_announce

from .actors import Sink, Source
from .conftest import Refusals, SecureBus

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_no_actor_answers_in_another_name_nor_as_the_server(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    plane = random_plane()
    other = secure_bus.creds.for_host("other.sec")
    assert other is not None
    with trio.fail_after(30):
        async with (
            App(
                Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
            ) as app,
            open_bus(secure_bus.url, other) as attacker,
        ):
            reply = f"{app.caller.reply_prefix}.1"
            forged = {
                "the server's no-responders status": reply,
                "an answer in the source's name": _subjects.answer_subject(
                    reply, plane, "source.sec"
                ),
                "a sink's answer to an event": _subjects.answer_subject(reply, plane, "sink.sec"),
            }
            for what, subject in forged.items():
                attacker.publish(subject, b"forged")
                text = await refusals.wait_for(subject, "'other.sec'")
                assert "publish" in text.lower(), what
            # Its own name is allowed: the caller then checks the frame against that name.
            attacker.publish(_subjects.answer_subject(reply, plane, "other.sec"), b"mine")
            await attacker.flush()
            # The victims' calls and gatherings are untouched.
            assert await app.client(Source).fire(n=2) == [4]
            assert await app.client(Source).echo(text="ok") == "ok"


async def test_no_actor_can_declare_anothers_instances_dead(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    """A "gone" notice makes every caller give up on those instances (outcome unknown) and
    cancel their handlers. Only the supervisor sends them, as the edge identity, on a subject
    of their own; on the announce subject, which every actor may use, one is ignored."""
    plane = random_plane()
    other = secure_bus.creds.for_host("other.sec")
    assert other is not None
    source = Source()
    with trio.fail_after(30):
        async with (
            App(
                source, Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
            ) as app,
            open_bus(secure_bus.url, other) as attacker,
        ):
            notice = encode_announce(Announce("forger", 1, gone=[source.instance]))
            gone = _subjects.gone_subject(plane)
            attacker.publish(gone, notice)
            text = await refusals.wait_for(gone, "'other.sec'")
            assert "publish" in text.lower()
            own = _subjects.announce_subject(plane, "other.sec")
            attacker.publish(own, notice)  # allowed there, and ignored
            await attacker.flush()
            assert await app.client(Source).echo(text="alive") == "alive"


async def test_no_actor_can_rewrite_another_processs_announcements(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    """A process announces its subscriptions under its own identity. Another actor cannot
    announce on that subject, and what it announces under its own is kept apart: re-listing
    a real process without its sink (same origin, a whole set with nothing) changes nothing,
    and every gathering still waits for that sink."""
    plane = random_plane()
    other = secure_bus.creds.for_host("other.sec")
    assert other is not None
    with trio.fail_after(30):
        async with (
            App(
                Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
            ) as app,
            open_bus(secure_bus.url, other) as attacker,
        ):
            assert await app.client(Source).fire(n=1) == [2]
            sink_hub = app._hubs["sink.sec"]
            erase = encode_announce(Announce(sink_hub._origin, 10**6, full=True))
            theirs = _subjects.announce_subject(plane, "sink.sec")
            attacker.publish(theirs, erase)
            text = await refusals.wait_for(theirs, "'other.sec'")
            assert "publish" in text.lower()
            attacker.publish(_subjects.announce_subject(plane, "other.sec"), erase)
            await attacker.flush()
            for n in range(20):  # the sink is still expected, so it is never left out
                assert await app.client(Source).fire(n=n) == [2 * n]
