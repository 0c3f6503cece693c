"""Bounded work: the wire budget is capped, each handler has a bound and a bounded line in
front; fire-and-forget requests wait in an inbox and are dropped only past its bound; plain
``def`` handlers run in threads."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from actorbus import (
    Actor,
    App,
    MemoryBus,
    Overloaded,
    RemoteError,
    TimeBudgetExceeded,
    endpoint,
    event,
    sink,
)
from actorbus._transport.base import Message
from actorbus._wire import frames as _frames
from tools.fuzz.harness import count_tasks

from ..runtime.actors import Calc
from .peers import (
    PEER_ACK_WINDOW,
    Spy,
    frames_in,
    in_flight,
    inbox_of,
    request,
    round_trip,
    subject,
)


async def test_the_budget_from_the_wire_is_capped(shared: str | MemoryBus, plane: str) -> None:
    async with (
        App(Calc(), bus=shared, plane=plane, max_budget=0.5),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        prefix, inbox = await inbox_of(peer)
        for i, path in enumerate(["/remaining", "/forever"]):
            frame = request("calc.test", path, {}, msg_id=str(i), budget_ms=2**63 - 1)
            peer.transport.publish(
                subject(peer, "calc.test", path), _frames.encode(frame), reply=f"{prefix}.{i}"
            )
        with trio.fail_after(10):
            while len([f for f in frames_in(inbox) if not isinstance(f, _frames.Ack)]) < 2:
                await inbox.wait_for(len(inbox.messages) + 1)
        answers = {f.msg_id: f for f in frames_in(inbox) if not isinstance(f, _frames.Ack)}
        remaining = answers["0"]
        assert isinstance(remaining, _frames.Response)
        assert 0 < _frames.msgspec.msgpack.decode(remaining.body) <= 0.5
        forever = answers["1"]
        assert isinstance(forever, _frames.Fault) and forever.status == 408


def test_max_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_budget"):
        App(max_budget=0)


class Narrow(Actor):
    hostname = "narrow.test"
    max_concurrent = 2
    max_queued = 3

    def __init__(self) -> None:
        super().__init__()
        self.release = trio.Event()
        self.running = 0
        self.most = 0
        self.done = 0
        self._finished = trio.Event()

    @endpoint
    async def slow(self) -> int:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        self.done += 1
        self._finished.set()
        self._finished = trio.Event()
        return self.done

    async def wait_done(self, n: int) -> None:
        """Wait until ``n`` calls of `slow` have finished."""
        while self.done < n:
            await self._finished.wait()

    @endpoint(max_concurrent=1)
    async def single(self) -> None:
        await self.release.wait()

    @endpoint("GET /hello")
    async def hello(self) -> str:
        return "hi"


async def test_past_the_bound_callers_are_refused_at_once(
    shared: str | MemoryBus, plane: str
) -> None:
    narrow = Narrow()
    async with (
        App(narrow, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        client = peer.client(Narrow)
        async with trio.open_nursery() as nursery:
            for _ in range(5):  # 2 run, 3 wait in line
                nursery.start_soon(client.slow)
            with trio.fail_after(10):
                while await in_flight(peer, "narrow.test") < 5:  # a round trip each
                    pass
            with trio.fail_after(2), pytest.raises(Overloaded) as info:
                await client.slow()
            assert info.value.status == 503 and info.value.retryable
            assert not isinstance(info.value, RemoteError)  # nothing ran: safe to retry
            assert "retry later" in str(info.value)
            assert narrow.stats.wire["overloaded"] == 1
            assert await client.hello() == "hi"  # other endpoints have their own bound
            narrow.release.set()
        assert narrow.most == 2
        assert narrow.done == 5


async def test_a_handlers_own_bound(shared: str | MemoryBus, plane: str) -> None:
    narrow = Narrow()
    async with (
        App(narrow, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
        trio.open_nursery() as nursery,
    ):
        for _ in range(4):  # 1 runs, 3 wait
            nursery.start_soon(peer.client(Narrow).single)
        with trio.fail_after(10):
            while await in_flight(peer, "narrow.test") < 4:  # a round trip each
                pass
        with pytest.raises(Overloaded):
            await peer.client(Narrow).single()
        narrow.release.set()


class Source(Actor):
    hostname = "source.test"

    @event
    async def on_thing(self, n: int) -> int: ...


class SlowSink(Narrow):
    hostname = "slow-sink.test"
    max_inbox = 3  # a small inbox, so the test can go past it

    @sink(Source.on_thing)
    async def thing(self, n: int) -> int:
        return await self.slow()


class TightSink(SlowSink):
    hostname = "tight-sink.test"
    max_inbox = 1000
    max_inbox_bytes = 300  # a few frames' worth: the byte bound is the one that binds


async def test_events_wait_in_the_inbox_and_only_past_its_bound_are_dropped(
    shared: str | MemoryBus, plane: str
) -> None:
    source, sink_ = Source(), SlowSink()
    async with App(sink_, bus=shared, plane=plane), App(source, bus=shared, plane=plane) as app:
        await round_trip(app, SlowSink)  # type: ignore[arg-type]
        await trio.testing.wait_all_tasks_blocked()
        idle = count_tasks()
        for i in range(50):
            await source.on_thing(n=i)  # fire and forget
        await round_trip(app, SlowSink)  # type: ignore[arg-type]
        assert sink_.stats.wire["dropped"] == 45  # 2 running + 3 in the inbox kept
        assert sink_.running == 2
        await trio.testing.wait_all_tasks_blocked()
        assert count_tasks() == idle + 2  # the flood never became 50 tasks
        assert await in_flight(app, "slow-sink.test") == 5  # (its control worker: a task more)
        sink_.release.set()
        with trio.fail_after(10):
            await sink_.wait_done(5)
        assert await in_flight(app, "slow-sink.test") == 0


async def test_the_inbox_is_bounded_in_bytes_too(shared: str | MemoryBus, plane: str) -> None:
    source, sink_ = Source(), TightSink()
    async with App(sink_, bus=shared, plane=plane), App(source, bus=shared, plane=plane) as app:
        await round_trip(app, TightSink)  # type: ignore[arg-type]
        for i in range(50):
            await source.on_thing(n=i)
        await round_trip(app, TightSink)  # type: ignore[arg-type]
        kept = await in_flight(app, "tight-sink.test") - 2  # in the inbox, behind the 2 running
        assert 0 < kept < 48  # the 300-byte bound held some, not all
        assert sink_.stats.wire["dropped"] == 50 - 2 - kept
        sink_.release.set()
        with trio.fail_after(10):
            await sink_.wait_done(2 + kept)
        assert await in_flight(app, "tight-sink.test") == 0


async def test_a_plain_def_handler_runs_in_a_thread(shared: str | MemoryBus, plane: str) -> None:
    class Blocking(Actor):
        hostname = "blocking.test"

        def __init__(self) -> None:
            super().__init__()
            self.entered = trio.Event()
            self.gate = threading.Event()
            self.thread = ""

        @endpoint(max_concurrent=1)
        def block(self, n: int) -> int:
            self.thread = threading.current_thread().name
            trio.from_thread.run_sync(self.entered.set)
            self.gate.wait()  # blocking: would freeze the whole actor outside a thread
            return n * 2

        @endpoint("GET /hello")
        async def hello(self) -> str:
            return "hi"

    actor = Blocking()
    async with (
        App(actor, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        client = peer.client(Blocking)
        async with trio.open_nursery() as nursery:
            result: list[int] = []

            async def call() -> None:
                result.append(await client.block(n=21))

            nursery.start_soon(call)
            with trio.fail_after(10):
                await actor.entered.wait()
                assert await client.hello() == "hi"  # the actor's Trio thread is free
            assert actor.thread != threading.main_thread().name
            actor.gate.set()
        assert result == [42]


async def test_a_plain_def_handler_counts_against_its_bound(plane: str) -> None:
    class Blocking(Actor):
        hostname = "blocking.test"
        max_queued = 0

        def __init__(self) -> None:
            super().__init__()
            self.entered = trio.Event()
            self.gate = threading.Event()

        @endpoint(max_concurrent=1)
        def block(self) -> None:
            trio.from_thread.run_sync(self.entered.set)
            self.gate.wait()

    bus = MemoryBus()
    actor = Blocking()
    async with (
        App(actor, bus=bus, plane=plane),
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(peer.client(Blocking).block)
        with trio.fail_after(10):
            await actor.entered.wait()
        with trio.fail_after(2), pytest.raises(Overloaded):
            await peer.client(Blocking).block()
        actor.gate.set()


def test_bounds_are_validated_when_declared() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        endpoint(max_concurrent=0)
    with pytest.raises(ValueError, match="max_queued"):

        class Bad(Actor):
            hostname = "bad.test"
            max_queued = -1


async def test_stats_on_the_control_plane(plane: str) -> None:
    spy = Spy()
    bus = MemoryBus()
    async with (
        App(spy, bus=bus, plane=plane),
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        peer.transport.publish(subject(peer, "spy.test", "/slow"), b"\xc1junk")
        await round_trip(peer)
        stats = await peer.caller.call(
            "spy.test", 888, "GET", "/stats", _frames.EMPTY_BODY, _frames.msgspec.msgpack.decode
        )
        assert stats["host"] == "spy.test"
        assert stats["wire"]["malformed"] == 1
        assert stats["in_flight"] == 1  # the stats call itself


async def test_ten_thousand_one_way_requests_with_a_huge_budget(
    shared: str | MemoryBus, plane: str
) -> None:
    """The flood from the issue: it held 10,009 tasks and 60 MB; now 100 run as tasks and the
    rest wait in the inbox as frames (nothing dropped: nobody could be told)."""
    calc = Calc()
    async with (
        App(calc, bus=shared, plane=plane, grace=0.1),  # `forever` only stops when cancelled
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        await trio.testing.wait_all_tasks_blocked()
        idle = count_tasks()
        where = subject(peer, "calc.test", "/forever")
        for i in range(10_000):
            frame = request(
                "calc.test", "/forever", {}, msg_id=f"{i:x}", oneway=True, budget_ms=2**63 - 1
            )
            peer.transport.publish(where, _frames.encode(frame))
        with trio.fail_after(30):
            await peer.transport.flush()
            assert await peer.client(Calc).add(a=1) == 2  # other endpoints still answer
        assert calc.stats.wire["dropped"] == 0  # they wait in the inbox, as frames
        await trio.testing.wait_all_tasks_blocked()
        # `forever`'s bound of workers, and the one that served `add`, parked for more work
        assert count_tasks() == idle + Calc.max_concurrent + 1
        assert await in_flight(peer, "calc.test") == 10_000


async def test_a_callees_budget_cap_answers_the_caller_at_once(
    shared: str | MemoryBus, plane: str
) -> None:
    """A 408 from the callee's own ``max_budget`` is raised at once: the caller's deadline is
    much later, so waiting for it (as for a 408 of the caller's own budget) would hide it."""
    async with (
        App(Calc(), bus=shared, plane=plane, max_budget=0.2),
        App(bus=shared, plane=plane) as peer,
    ):
        with trio.move_on_after(30) as own:
            with pytest.raises(TimeBudgetExceeded, match="max_budget of 200 ms"):
                await peer.client(Calc).forever()
        assert not own.cancelled_caught  # raised by the callee's answer, not our deadline


async def test_a_request_arriving_while_shutting_down_is_refused_not_ignored(
    shared: str | MemoryBus, plane: str
) -> None:
    """Between the end of intake and its unsubscription reaching the server a request can
    still arrive: the caller hears at once that it did not run, never an `AckTimeout`."""
    calc = Calc()
    async with (
        App(calc, bus=shared, plane=plane),
        App(bus=shared, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        server = calc._server
        assert server is not None
        deliver = server._deliverer(("calc.test", 443, "POST", "/add"), None)
        await server.stop_intake()
        prefix, inbox = await inbox_of(peer)
        where = subject(peer, "calc.test", "/add")
        for i, reply in enumerate([f"{prefix}.1", None]):
            frame = request("calc.test", "/add", {"a": 1}, msg_id=str(i), oneway=reply is None)
            deliver(Message(where, _frames.encode(frame), reply))
        with trio.fail_after(10):
            await inbox.wait_for(1)
        (refusal,) = frames_in(inbox)
        assert isinstance(refusal, _frames.Fault)
        assert (refusal.status, refusal.type) == (503, "Overloaded")
        assert "shutting down" in refusal.message
        assert calc.stats.wire["dropped"] == 1  # the fire-and-forget one: counted, not silent
