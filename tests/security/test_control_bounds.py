"""Control messages are bounded and cheap to receive, under the generated ACL: a peer holding
one legitimate actor's credentials floods the announce subject with ``hello``s and made-up
origins; every process keeps a bounded directory, answers a bounded number of whole sets, and
the victims' calls and gatherings still work."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from actorbus import App
from actorbus._app import open_bus, random_plane
from actorbus._transport.base import Message
from actorbus._wire import directory as _directory
from actorbus._wire import subjects as _subjects

from .actors import Sink, Source
from .conftest import SecureBus

pytestmark = pytest.mark.nats

HELLOS = 1000
ORIGINS = 3 * _directory.MAX_ORIGINS


async def test_a_flood_of_hellos_and_origins_stays_bounded(secure_bus: SecureBus) -> None:
    plane = random_plane()
    announce = _subjects.announce_subject(plane, "other.sec")  # the only one it may use
    every = _subjects.announce_subscription(plane)
    attacker = secure_bus.creds.for_host("other.sec")
    assert attacker is not None
    whole_sets: dict[str, int] = {}

    def count(msg: Message) -> None:
        ann = _directory.decode_announce(msg.data)
        if ann is not None and ann.full and not ann.hello:
            whole_sets[ann.origin] = whole_sets.get(ann.origin, 0) + 1

    def on_marker(seen: trio.Event, msg: Message) -> None:
        ann = _directory.decode_announce(msg.data)
        if ann is not None and ann.origin == "marker2":
            seen.set()

    with trio.fail_after(60):
        async with App(
            Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ) as app:
            hubs = [app.hub, *{id(h): h for h in app._hubs.values()}.values()]
            origins = {h._origin for h in hubs}
            synced: list[trio.Event] = []
            for transport in {id(h.transport): h.transport for h in hubs}.values():
                seen = trio.Event()
                synced.append(seen)
                await transport.subscribe(every, partial(on_marker, seen))
                await transport.flush()
            async with open_bus(secure_bus.url, attacker) as peer:
                await peer.subscribe(every, count)
                await peer.flush()
                start = trio.current_time()
                for i in range(HELLOS):
                    hello = _directory.Announce(f"h{i}", 0, full=True, hello=True)
                    peer.publish(announce, _directory.encode_announce(hello))
                await peer.flush()
                for i in range(ORIGINS):
                    forged = _directory.Announce(f"f{i}", 0, full=True)
                    peer.publish(announce, _directory.encode_announce(forged))
                    if i % 1000 == 999:
                        await peer.flush()
                for name in ("marker", "marker2"):
                    marker = _directory.Announce(name, 0, [("x.y", "q")], full=True)
                    peer.publish(announce, _directory.encode_announce(marker))
                await peer.flush()
                # One connection's messages arrive in order: once a second subscriber on each
                # hub's connection saw marker2, that hub has taken in the flood and marker.
                for seen in synced:
                    await seen.wait()
                # kept under the attacker's own identity: it cannot touch another's entries
                assert all(h.directory.knows("other.sec/marker") for h in hubs)
                elapsed = trio.current_time() - start
                # the victims still call and gather
                assert await app.client(Source).fire(n=4) == [8]
                await peer.flush()
            for hub in hubs:
                origins_known, entries = hub.directory.size
                assert origins_known <= _directory.MAX_ORIGINS
                assert entries <= _directory.MAX_TOTAL_ENTRIES
                assert hub.directory.knows(hub._origin)  # its own entries are never evicted
                assert hub.directory.hellos_refused > 0
            allowed = _directory.HELLO_BURST + _directory.HELLO_RATE * elapsed + 1
            answers = [whole_sets.get(origin, 0) for origin in origins]
            assert all(n <= allowed for n in answers), (answers, allowed)
            assert sum(answers) < HELLOS  # was one answer per hello per process


GAPS = 500


async def test_gaps_made_on_purpose_get_a_bounded_number_of_whole_sets(
    secure_bus: SecureBus,
) -> None:
    """A peer that makes a gap in its own announcements again and again: each gap makes a
    process ask for whole sets (its own with ``hello``), but through the hello token bucket,
    not once per gap."""
    plane = random_plane()
    announce = _subjects.announce_subject(plane, "other.sec")
    every = _subjects.announce_subscription(plane)
    attacker = secure_bus.creds.for_host("other.sec")
    assert attacker is not None
    asks: dict[str, int] = {}
    done = trio.Event()

    def count(msg: Message) -> None:
        ann = _directory.decode_announce(msg.data)
        if ann is None:
            return
        if ann.full and ann.hello:
            asks[ann.origin] = asks.get(ann.origin, 0) + 1
        if ann.origin == "end":
            done.set()

    with trio.fail_after(60):
        async with App(
            Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ) as app:
            origins = {app.hub._origin, *(h._origin for h in app._hubs.values())}
            async with open_bus(secure_bus.url, attacker) as peer:
                await peer.subscribe(every, count)
                await peer.flush()
                start = trio.current_time()
                for i in range(GAPS):
                    whole = _directory.Announce("g", 2 * i, [("x.y", "q")], full=True)
                    gap = _directory.Announce("g", 2 * i + 5, [("x.z", "q")])  # skips seqs
                    peer.publish(announce, _directory.encode_announce(whole))
                    peer.publish(announce, _directory.encode_announce(gap))
                peer.publish(announce, _directory.encode_announce(_directory.Announce("end", 0)))
                await peer.flush()
                await done.wait()  # our own copy: everything before it reached the server
                assert await app.client(Source).fire(n=2) == [4]  # a round trip behind it
                elapsed = trio.current_time() - start
    allowed = _directory.HELLO_BURST + _directory.HELLO_RATE * elapsed + 1
    answers = [asks.get(origin, 0) for origin in origins]
    assert all(n <= allowed for n in answers), (answers, allowed)
    assert max(answers) > 0  # the gaps were seen (the test can fail)
