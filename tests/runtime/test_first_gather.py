"""The directory of subscriptions: even the first gather knows its sinks (both buses)."""

from __future__ import annotations

import trio

from actorbus import App
from actorbus._transport.memory import MemoryBus
from actorbus._wire.directory import Announce, encode_announce
from actorbus._wire.subjects import announce_subject

from .test_events import Recorder, Source, Vetoer, collect

WINDOW = 5.0  # a gather that waited out the ack window would trip every bound below


def _shared(bus: str) -> str | MemoryBus:
    return MemoryBus() if bus == "memory" else bus


async def test_first_gather_ends_when_the_known_sinks_replied(bus: str, plane: str) -> None:
    shared = _shared(bus)
    async with App(Recorder(), Vetoer(), bus=shared, plane=plane, ack_window=WINDOW):
        source = Source()
        async with App(source, bus=shared, plane=plane, ack_window=WINDOW):
            with trio.fail_after(WINDOW / 2):
                gathering = source.on_thing(thing="first")
                replies = await collect(gathering)
            assert gathering.complete
            assert sorted(r.host for r in replies) == ["recorder.test", "vetoer.test"]


async def test_first_gather_to_sinks_in_the_same_app(bus: str, plane: str) -> None:
    source = Source()
    async with App(source, Recorder(), Vetoer(), bus=bus, plane=plane, ack_window=WINDOW):
        with trio.fail_after(WINDOW / 2):
            gathering = source.on_thing(thing="first")
            replies = await collect(gathering)
        assert gathering.complete
        assert sorted(r.host for r in replies) == ["recorder.test", "vetoer.test"]


async def test_a_sink_that_left_is_not_waited_for(bus: str, plane: str) -> None:
    shared = _shared(bus)
    source = Source()
    async with (
        App(source, bus=shared, plane=plane, ack_window=WINDOW),
        App(Recorder(), bus=shared, plane=plane, ack_window=WINDOW),
    ):
        async with App(Vetoer(), bus=shared, plane=plane, ack_window=WINDOW):
            with trio.fail_after(WINDOW / 2):
                assert len(await collect(source.on_thing(thing="both"))) == 2
        with trio.fail_after(WINDOW / 2):  # the vetoer said goodbye: only the recorder counts
            replies = await collect(source.on_thing(thing="one"))
        assert [r.host for r in replies] == ["recorder.test"]


async def test_a_sink_started_later_is_not_missed(bus: str, plane: str) -> None:
    shared = _shared(bus)
    source = Source()
    async with App(source, Recorder(), bus=shared, plane=plane, ack_window=1.0):
        await collect(source.on_thing(thing="warm"))
        async with App(Vetoer(), bus=shared, plane=plane, ack_window=1.0):
            replies = await collect(source.on_thing(thing="after"))
            assert sorted(r.host for r in replies) == ["recorder.test", "vetoer.test"]


async def test_forged_and_garbage_announcements_are_harmless(bus: str, plane: str) -> None:
    source = Source()
    async with App(source, Recorder(), bus=bus, plane=plane, ack_window=1.0) as app:
        subject = announce_subject(plane)
        app.transport.publish(subject, b"\xff\x00garbage")
        # A peer that claims a sink which never answers costs the ack window, nothing more.
        ghost = Announce("ghost", 0, [(source_subject(plane), "ghost.test")], full=True)
        app.transport.publish(subject, encode_announce(ghost))
        await app.transport.flush()
        with trio.fail_after(10):
            replies = await collect(source.on_thing(thing="x"))
        assert [r.host for r in replies] == ["recorder.test"]


def source_subject(plane: str) -> str:
    from actorbus._wire.subjects import subscription_subject

    return subscription_subject(plane, 417, "source.test", "POST", "/on-thing")
