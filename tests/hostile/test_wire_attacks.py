"""Each attack of a peer on the bus, on the memory bus and on a real nats-server: duplicated
and colliding requests, frames routed by their own fields instead of their subject, forged
cancels and forged replies."""

from __future__ import annotations

import functools

import pytest
import trio
import trio.testing

from actorbus import Actor, App, BusError, MemoryBus, endpoint, event, sink
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects
from actorbus._wire.directory import Announce, encode_announce
from tools.fuzz.rawnats import RawNats

from .peers import (
    PEER_ACK_WINDOW,
    Acks,
    Spy,
    frames_in,
    inbox_of,
    request,
    round_trip,
    subject,
)


async def test_a_duplicated_request_runs_once_and_is_counted(
    shared: str | MemoryBus, plane: str
) -> None:
    spy = Spy()
    async with (
        App(spy, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        prefix, inbox = await inbox_of(peer)
        data = _frames.encode(request("spy.test", "/slow", {"tag": "x"}))
        for _ in range(2):  # the same frame twice: same instance, message id and token
            peer.transport.publish(subject(peer, "spy.test", "/slow"), data, reply=prefix + ".1")
        await round_trip(peer)
        await spy.wait_seen(1)
        assert spy.stats.wire["duplicate"] == 1
        spy.release["x"].set()
        with trio.fail_after(10):
            while not any(isinstance(f, _frames.Response) for f in frames_in(inbox)):
                await inbox.wait_for(len(inbox.messages) + 1)
        assert len(spy.seen) == 1
        (response,) = [f for f in frames_in(inbox) if isinstance(f, _frames.Response)]
        assert response.token == "t0"
        await round_trip(peer)  # the actor (and its App) are still up


async def test_copied_ids_cannot_collide_with_a_callers_call_nor_answer_it(
    shared: str | MemoryBus, plane: str
) -> None:
    spy = Spy()
    async with (
        App(spy, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        async with trio.open_nursery() as nursery:
            result: list[str] = []

            async def victim() -> None:
                result.append(await peer.client(Spy).slow(tag="legit"))

            nursery.start_soon(victim)
            await spy.wait_seen(1)
            legit = spy.seen[0]
            # The attacker copies the caller's instance and message id (both guessable) and
            # sends the answer of its own request to the caller's reply subject. As itself,
            # the responder refuses it: the reply subject names another caller.
            forged = request(
                "spy.test",
                "/slow",
                {"tag": "forged"},
                msg_id=legit.msg_id,
                from_instance=legit.from_instance,
                token="f" * 16,
            )
            reply_to = f"{peer.caller.reply_prefix}.{legit.msg_id}"
            peer.transport.publish(
                subject(peer, "spy.test", "/slow"), _frames.encode(forged), reply=reply_to
            )
            await round_trip(peer)
            assert spy.stats.wire["mismatch"] == 1 and len(spy.seen) == 1
            # In the caller's name (which only a bus without the generated ACLs lets through)
            # the copy runs, but its answer does not pass for the caller's own call.
            forged.from_host = peer.hostname
            peer.transport.publish(
                subject(peer, "spy.test", "/slow", source=peer.hostname),
                _frames.encode(forged),
                reply=reply_to,
            )
            await spy.wait_seen(2)  # both run: the keys differ by the token
            spy.release["forged"].set()
            await round_trip(peer)  # the forged answer reached the caller before this one
            assert peer.caller.guard.counts["unauthenticated"] >= 1
            spy.release["legit"].set()
        assert result == ["legit"]
        await round_trip(peer)


class Users(Actor):
    hostname = "users.example"

    @event
    async def on_user_deleted(self, user_id: str) -> bool: ...


class Files(Actor):
    hostname = "files.example"

    def __init__(self) -> None:
        super().__init__()
        self.purged: list[str] = []

    @sink(Users.on_user_deleted)
    async def purge(self, user_id: str) -> bool:
        self.purged.append(user_id)
        return True

    @endpoint("GET /hello")
    async def hello(self) -> str:
        return "hi"


async def test_a_frame_is_refused_on_a_subject_that_is_not_its_own(
    shared: str | MemoryBus, plane: str
) -> None:
    files = Files()
    async with (
        App(files, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        prefix, inbox = await inbox_of(peer)
        event_frame = request(
            "users.example", "/on-user-deleted", {"user_id": "u1"}, port=417, multicast=True
        )
        data = _frames.encode(event_frame)
        # A port ACL forbids the peer users.example:417; it tries files' own subjects instead.
        wrong = [
            subject(peer, "files.example", "/hello", method="GET"),
            subject(peer, "files.example", "/hello", method="GET", instance=files.instance),
            subject(peer, "files.example", "/on-user-deleted", port=417, instance="~all"),
        ]
        for i, subj in enumerate(wrong):
            peer.transport.publish(subj, data, reply=f"{prefix}.{i}")
        await inbox.wait_for(len(wrong))
        await round_trip(peer, Files)  # type: ignore[arg-type]
        assert files.purged == []
        assert files.stats.wire["mismatch"] == len(wrong)
        faults = frames_in(inbox)
        assert all(isinstance(f, _frames.Fault) and f.status == 400 for f in faults)
        # Without a reply subject it is dropped, counted, and still never runs.
        peer.transport.publish(wrong[0], data)
        await round_trip(peer, Files)  # type: ignore[arg-type]
        assert files.stats.wire["mismatch"] == len(wrong) + 1
        assert files.purged == []
        # On its own subject, from another host than the event's source: refused (403).
        peer.transport.publish(
            subject(peer, "users.example", "/on-user-deleted", port=417), data, reply=prefix + ".9"
        )
        await inbox.wait_for(len(wrong) + 1)
        assert frames_in(inbox)[-1].status == 403  # type: ignore[union-attr]
        assert files.stats.wire["forbidden"] == 1 and files.purged == []
        # In the source's name (what only the source can send under the generated ACLs), the
        # same frame is served.
        event_frame.from_host = "users.example"
        users_inbox = _subjects.reply_prefix(peer.plane, "users.example", "atk0")
        await peer.transport.subscribe(
            _subjects.reply_subscription(peer.plane, "users.example", "atk0"), inbox
        )
        await peer.transport.flush()
        peer.transport.publish(
            subject(peer, "users.example", "/on-user-deleted", port=417, source="users.example"),
            _frames.encode(event_frame),
            reply=users_inbox + ".10",
        )
        await inbox.wait_for(len(wrong) + 2)  # its reply (an ack may come before it)
        assert isinstance(frames_in(inbox)[-1], _frames.Response)
        assert files.purged == ["u1"]


async def test_a_guessed_cancel_stops_nothing(shared: str | MemoryBus, plane: str) -> None:
    spy = Spy()
    async with (
        App(spy, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        async with trio.open_nursery() as nursery:
            result: list[str] = []

            async def victim() -> None:
                result.append(await peer.client(Spy).slow(tag="v"))

            nursery.start_soon(victim)
            await spy.wait_seen(1)
            seen = spy.seen[0]
            direct = subject(peer, "spy.test", "/slow", instance=spy.instance)
            for token in ("", "0" * 16, seen.token[:-1]):
                cancel = _frames.Cancel(
                    msg_id=seen.msg_id,
                    from_host=seen.from_host,
                    from_instance=seen.from_instance,
                    token=token,
                )
                peer.transport.publish(direct, _frames.encode(cancel))
            await round_trip(peer)
            assert spy.cancelled == []
            assert spy.stats.wire["unmatched"] == 3
            spy.release["v"].set()
        assert result == ["v"]


async def test_replies_to_nobody_are_dropped_and_counted(
    shared: str | MemoryBus, plane: str
) -> None:
    spy = Spy()
    async with (
        App(spy, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        caller = spy._running_caller()
        response = _frames.Response(
            msg_id="77", from_host="x.test", from_instance="x0", queue="x", token="t"
        )
        as_x = functools.partial(_subjects.answer_subject, plane=plane, host="x.test")
        peer.transport.publish(as_x(f"{caller.reply_prefix}.77"), _frames.encode(response))
        peer.transport.publish(as_x(f"{caller.reply_prefix}.78"), b"\x00garbage")
        await peer.transport.flush()
        await round_trip(peer)  # served by the same App, after both
        assert spy.stats.wire["unmatched"] == 1
        assert spy.stats.wire["malformed"] == 1


async def test_replies_must_come_from_the_host_they_name(
    shared: str | MemoryBus, plane: str
) -> None:
    """An answer names its sender in its subject (which nats-server checks under the ACLs):
    a frame claiming another host, or a frame on the server's own status subject, is refused
    and counted, and the victim's call still gets its real answer."""
    spy = Spy()
    async with (
        App(spy, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
        trio.open_nursery() as nursery,
    ):
        result: list[str] = []

        async def victim() -> None:
            result.append(await peer.client(Spy).slow(tag="legit"))

        nursery.start_soon(victim)
        await spy.wait_seen(1)
        legit = spy.seen[0]
        reply = f"{peer.caller.reply_prefix}.{legit.msg_id}"
        forged = _frames.Response(
            msg_id=legit.msg_id,
            from_host="spy.test",  # in the responder's name ...
            from_instance="s0",
            queue="spy.test",
            body=_frames.encode_body("forged"),
            token=legit.token,  # ... even with the right token (a peer that saw the request)
        )
        data = _frames.encode(forged)
        peer.transport.publish(_subjects.answer_subject(reply, plane, "evil.test"), data)
        peer.transport.publish(reply, data)  # on the server's status subject
        await round_trip(peer)
        assert peer.caller.guard.counts["unauthenticated"] == 2
        spy.release["legit"].set()
    assert result == ["legit"]


@pytest.mark.nats
async def test_a_forged_no_responders_status_after_the_ack_is_ignored(
    nats_url: str, plane: str
) -> None:
    spy = Spy()
    async with (
        App(spy, bus=nats_url, plane=plane),
        App(bus=nats_url, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
        trio.open_nursery() as nursery,
    ):
        result: list[str] = []

        async def victim() -> None:
            result.append(await peer.client(Spy).slow(tag="v"))

        acks = await Acks.watch(peer, spy)
        nursery.start_soon(victim)
        with trio.fail_after(10):
            await acks.wait_for(1)  # the handler is slow: it was acked after 20 ms
        await round_trip(peer)  # ... and the ack reached the caller before this reply did
        raw = await RawNats.connect(nats_url)
        try:
            reply_to = f"{peer.caller.reply_prefix}.{spy.seen[0].msg_id}"
            await raw.hpub(reply_to, b"NATS/1.0 503\r\n\r\n", b"", None)
            await raw.ping()
        finally:
            await raw.aclose()
        await round_trip(peer)
        assert peer.caller.guard.counts["unauthenticated"] == 1
        spy.release["v"].set()
    assert result == ["v"]


async def test_gone_notices_count_only_on_their_own_subject(
    shared: str | MemoryBus, plane: str
) -> None:
    """A notice that an instance died ends the calls it acked ("outcome unknown"). On the
    announce subject, which every actor may publish, one is ignored; on the gone subject
    (the supervisor's under the ACLs) it counts."""
    spy = Spy()
    async with (
        App(spy, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
        trio.open_nursery() as nursery,
    ):
        send, outcomes = trio.open_memory_channel[object](2)

        async def victim(tag: str) -> None:
            try:
                await send.send(await peer.client(Spy).slow(tag=tag))
            except BusError as exc:
                await send.send(exc)

        acks = await Acks.watch(peer, spy)
        nursery.start_soon(victim, "v")
        with trio.fail_after(10):
            await acks.wait_for(1)
        await round_trip(peer)  # the ack reached the caller
        notice = encode_announce(Announce("forger", 1, gone=[spy.instance]))
        peer.transport.publish(_subjects.announce_subject(plane), notice)
        await round_trip(peer)
        spy.release["v"].set()
        with trio.fail_after(10):
            assert await outcomes.receive() == "v"  # the forged notice changed nothing

        nursery.start_soon(victim, "w")
        with trio.fail_after(10):
            await acks.wait_for(2)
        await round_trip(peer)
        peer.transport.publish(_subjects.gone_subject(plane), notice)
        with trio.fail_after(10):
            ended = await outcomes.receive()
        assert isinstance(ended, BusError) and "outcome is unknown" in str(ended)
        spy.release["w"].set()
