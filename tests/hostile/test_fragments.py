"""A peer that sends pieces of requests (or replies) by hand: duplicated, missing, reordered,
oversized, never finished, sent elsewhere, or claiming somebody else's set. Each costs bounded
memory, is counted in ``actor.stats.wire`` and never confuses the receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import cast

import msgspec
import pytest
import trio
import trio.testing

from actorbus import Actor, App, MemoryBus, endpoint
from actorbus._runtime import fragments as _store
from actorbus._wire import fragments as _pieces
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects
from actorbus.testing import Inbox

from .peers import PEER_ACK_WINDOW, frames_in, inbox_of, request

MAX_PAYLOAD = 2048
LIMIT = 100_000  # max_body of the Apps under attack


class Sizer(Actor):
    hostname = "sizer.test"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    @endpoint
    async def size(self, data: bytes) -> int:
        self.seen.append(len(data))
        return len(data)

    @endpoint
    async def hold(self, release: bool) -> int:
        await trio.sleep_forever()
        return 0


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[_store.Budget]:
    """A process budget of this test's own (so one test's sets never count in another's)."""
    own = _store.Budget(_store.DEFAULT_PROCESS_LIMIT)
    monkeypatch.setattr(_store, "PROCESS_BUDGET", own)
    monkeypatch.setattr(_store.Reassembly.__init__, "__defaults__", (None, own, 2.0, 1024))
    yield own


def pieces(size: int, **changes: object) -> list[_frames.Fragment]:
    frame = request("sizer.test", "/size", {"data": b"d" * size}, **changes)
    data = _frames.encode(frame)
    split = _pieces.split(data, MAX_PAYLOAD, frame, frame.from_host)
    return [cast(_frames.Fragment, _frames.decode(p)) for p in split]


class Peer:
    """A raw peer on the bus with its reply inbox."""

    def __init__(self, app: App, prefix: str, inbox: Inbox) -> None:
        self.app, self.prefix, self.inbox = app, prefix, inbox
        self.route = _subjects.request_subject(
            app.plane, 443, "sizer.test", "POST", "/size", source="attacker.test"
        )

    def send(self, piece: _frames.Fragment, subject: str | None = None, msg_id: str = "1") -> None:
        reply = f"{self.prefix}.{msg_id}"
        self.app.transport.publish(subject or self.route, _frames.encode(piece), reply=reply)

    async def first(self, piece: _frames.Fragment) -> _frames.Ack:
        """Send a first piece; the ack names the instance to send the rest to."""
        self.send(piece, msg_id=piece.msg_id)
        return await self.wait(lambda f: isinstance(f, _frames.Ack) and f.token == piece.token)

    def rest_subject(self, ack: _frames.Ack) -> str:
        plane = self.app.plane
        return _subjects.continuation_subject(self.route, plane, ack.from_host, ack.from_instance)

    async def wait(self, match: object) -> _frames.Frame:
        with trio.fail_after(10):
            while True:
                for f in frames_in(self.inbox):
                    if match(f):  # type: ignore[operator]
                        return f
                await self.inbox.wait_for(len(self.inbox.messages) + 1)


async def _peer(app: App) -> Peer:
    prefix, inbox = await inbox_of(app)
    return Peer(app, prefix, inbox)


@asynccontextmanager
async def attacked(plane: str) -> AsyncIterator[tuple[Sizer, Peer]]:
    """A `Sizer` on a small memory bus, and a raw peer beside it."""
    bus, sizer = MemoryBus(max_payload=MAX_PAYLOAD), Sizer()
    async with (
        App(sizer, bus=bus, plane=plane, max_body=LIMIT),
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as raw,
    ):
        yield sizer, await _peer(raw)


def _answered(f: _frames.Frame) -> bool:
    return isinstance(f, _frames.Response | _frames.Fault)


async def test_reordered_and_duplicated_pieces_run_the_request_once(
    plane: str, budget: _store.Budget
) -> None:
    async with attacked(plane) as (sizer, peer):
        parts = pieces(20_000)
        ack = await peer.first(parts[0])
        rest = peer.rest_subject(ack)
        for piece in [parts[3], *reversed(parts[1:]), parts[1]]:  # out of order, twice
            peer.send(piece, rest)  # (the last copy comes after the set is whole)
        reply = await peer.wait(_answered)
        assert isinstance(reply, _frames.Response)
        assert msgspec.msgpack.decode(reply.body) == 20_000
        assert sizer.seen == [20_000]
        assert sizer.stats.wire["duplicate"] == 1
        assert sizer.stats.wire["fragment_unmatched"] == 1
        assert budget.held == 0


async def test_pieces_sent_elsewhere_are_refused_and_a_stalled_set_is_dropped(
    plane: str, budget: _store.Budget, autojump_clock: trio.abc.Clock
) -> None:
    bus, sizer, other = MemoryBus(max_payload=MAX_PAYLOAD), Sizer(), Sizer()
    async with (
        App(sizer, bus=bus, plane=plane, max_body=LIMIT),
        App(other, bus=bus, plane=plane),
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as raw,
    ):
        peer = await _peer(raw)
        parts = pieces(20_000)
        ack = await peer.first(parts[0])
        acker = sizer if ack.from_instance == sizer.instance else other
        bystander = other if acker is sizer else sizer
        for piece in parts[1:]:
            peer.send(piece)  # on the route's subject, where replicas would get halves
        to_bystander = _subjects.continuation_subject(
            peer.route, raw.plane, "sizer.test", bystander.instance
        )
        peer.send(parts[1], to_bystander)  # another replica's direct subject
        held = budget.held
        assert held >= 20_000
        fault = await peer.wait(_answered)  # nothing more comes: the set stalls
        assert isinstance(fault, _frames.Fault) and fault.type == "IncompleteRequest"
        assert "did not run" in fault.message
        assert acker.stats.wire["fragment_stalled"] == 1
        invalid = acker.stats.wire["fragment_invalid"] + bystander.stats.wire["fragment_invalid"]
        assert invalid + bystander.stats.wire["fragment_unmatched"] == len(parts)
        assert bystander.stats.wire["fragment_unmatched"] >= 1
        assert sizer.seen == other.seen == []
        assert budget.held == 0


async def test_pieces_that_contradict_their_set_drop_it(plane: str, budget: _store.Budget) -> None:
    async with attacked(plane) as (sizer, peer):
        parts = pieces(20_000)
        ack = await peer.first(parts[0])
        liar = msgspec.structs.replace(parts[1], index=parts[0].count)  # past the last
        peer.send(liar, peer.rest_subject(ack))
        fault = await peer.wait(_answered)
        assert isinstance(fault, _frames.Fault) and fault.status == 400
        assert sizer.stats.wire["fragment_invalid"] == 1
        peer.send(parts[2], peer.rest_subject(ack))  # the set is gone
        other = pieces(20_000, msg_id="2", token="t2")
        ack2 = await peer.first(other[0])
        peer.send(msgspec.structs.replace(other[1], count=99), peer.rest_subject(ack2))
        await peer.wait(lambda f: _answered(f) and f.token == "t2")  # type: ignore[union-attr]
        assert sizer.stats.wire["fragment_unmatched"] == 1
        assert sizer.stats.wire["fragment_invalid"] == 2
        assert sizer.seen == [] and budget.held == 0


async def test_a_set_over_the_body_limit_is_refused_before_it_costs_memory(
    plane: str, budget: _store.Budget
) -> None:
    async with attacked(plane) as (sizer, peer):
        first = pieces(20_000)[0]
        huge = msgspec.structs.replace(first, size=LIMIT + _pieces.FRAME_SLACK + 1, count=999)
        peer.send(huge)
        fault = await peer.wait(_answered)
        assert isinstance(fault, _frames.Fault) and fault.status == 413
        assert fault.type == "PayloadTooLarge"
        assert sizer.stats.wire["too_large"] == 1 and budget.held == 0
        for bad in (  # impossible first pieces: counted, never started
            msgspec.structs.replace(first, count=1),
            msgspec.structs.replace(first, count=first.size + 1),
            msgspec.structs.replace(first, token=""),
            msgspec.structs.replace(first, index=3),
        ):
            peer.send(bad)
        peer.send(msgspec.structs.replace(first, token="ok"), msg_id="1")
        await peer.wait(lambda f: isinstance(f, _frames.Ack) and f.token == "ok")
        wire = sizer.stats.wire
        assert wire["fragment_invalid"] + wire["fragment_unmatched"] == 4


async def test_never_finished_sets_stay_within_the_process_bound(
    plane: str, budget: _store.Budget, autojump_clock: trio.abc.Clock
) -> None:
    budget.limit = 50_000
    async with attacked(plane) as (sizer, peer):
        for i in range(2):  # two sets of 20 KB each are held, never finished
            await peer.first(pieces(20_000, msg_id=str(i), token=f"t{i}")[0])
        assert budget.held <= budget.limit
        peer.send(pieces(20_000, msg_id="9", token="t9")[0], msg_id="9")
        refusal = await peer.wait(lambda f: _answered(f) and f.token == "t9")  # type: ignore[union-attr]
        assert isinstance(refusal, _frames.Fault) and refusal.type == "Overloaded"
        assert sizer.stats.wire["fragment_refused"] == 1
        for i in range(2):
            await peer.wait(lambda f, i=i: _answered(f) and f.token == f"t{i}")  # type: ignore[misc]
        assert budget.held == 0 and sizer.stats.wire["fragment_stalled"] == 2
        assert await peer.app.client(Sizer).size(data=b"a" * 30_000) == 30_000  # room again


async def test_a_copied_key_makes_another_set(plane: str, budget: _store.Budget) -> None:
    async with attacked(plane) as (sizer, peer):
        mine, copy = pieces(20_000), pieces(9_000, token="other")  # same instance and id
        ack = await peer.first(mine[0])
        await peer.first(copy[0])
        for piece in copy[1:]:
            peer.send(piece, peer.rest_subject(ack))
        await peer.wait(lambda f: _answered(f) and f.token == "other")  # type: ignore[union-attr]
        for piece in mine[1:]:
            peer.send(piece, peer.rest_subject(ack))
        await peer.wait(lambda f: _answered(f) and f.token == "t0")  # type: ignore[union-attr]
        assert sorted(sizer.seen) == [9_000, 20_000]


async def test_forged_reply_pieces_are_refused(plane: str, budget: _store.Budget) -> None:
    bus, sizer = MemoryBus(max_payload=MAX_PAYLOAD), Sizer()
    async with (
        App(sizer, bus=bus, plane=plane, grace=0.01),  # its held call ends with it
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as app,
        App(bus=bus, plane=plane) as attacker,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(app.client(Sizer).hold, True)
        await trio.testing.wait_all_tasks_blocked()
        caller = app.caller
        (msg_id,) = caller._pending
        answer = f"{app.plane}.r.{_subjects.host_token('sizer.test')}." + (
            caller.reply_prefix.split(".", 3)[3] + f".{msg_id}"
        )
        piece = msgspec.structs.replace(pieces(20_000)[0], from_host="sizer.test")
        forged = [
            msgspec.structs.replace(piece, msg_id=msg_id, from_host="other.test"),  # host
            msgspec.structs.replace(piece, msg_id=msg_id),  # no token of the call
        ]
        for f in forged:
            attacker.transport.publish(answer, _frames.encode(f))
        stray = answer.rpartition(".")[0] + ".ff"
        attacker.transport.publish(stray, _frames.encode(piece))  # no such call
        await attacker.transport.flush()
        await trio.testing.wait_all_tasks_blocked()  # the memory bus delivered them all
        assert caller.guard.counts["fragment_unmatched"] == 1
        assert caller.guard.counts["unauthenticated"] == 2
        assert len(app.hub.fragments) == 0
        nursery.cancel_scope.cancel()
