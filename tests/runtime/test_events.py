"""Events and multicast on both buses: fan-out, replicas, vetoes, errors, ends, cleanup."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import actorbus
from actorbus import Actor, App, Reply, endpoint, event, sink


class Source(Actor):
    hostname = "source.test"

    @event
    async def on_thing(self, thing: str) -> bool: ...

    @event("POST /custom", port=4170)
    async def on_custom(self, n: int) -> int: ...

    @event
    async def on_plain(self, n: int) -> int: ...


class Recorder(Actor):
    """A sink whose behaviour the test sets per instance."""

    hostname = "recorder.test"
    answer: bool | None = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.got = trio.Event()
        self.cancelled = trio.Event()
        self.before_its_budget = False  # a blocked run was cancelled, not timed out
        self.block = False

    @sink(Source.on_thing)
    async def thing(self, thing: str) -> bool:
        self.seen.append(thing)
        self.got.set()
        if self.block:
            deadline = trio.current_effective_deadline()
            try:
                await trio.sleep_forever()
            finally:
                self.before_its_budget = trio.current_time() < deadline
                self.cancelled.set()
        if self.answer is None:
            raise RuntimeError(f"cannot handle {thing}")
        return self.answer

    @sink(Source.on_custom)
    async def custom(self, n: int) -> int:
        return n * 2


class Vetoer(Recorder):
    hostname = "vetoer.test"
    answer = False


class Broken(Recorder):
    hostname = "broken.test"
    answer = None


class Liar(Actor):
    hostname = "liar.test"

    @sink(Source.on_plain)
    async def plain(self, n: int) -> Any:  # an open annotation: the wrong type reaches the wire
        return "not an int"


async def collect(gathering: actorbus.Gathering) -> list[Reply]:
    return [reply async for reply in gathering]


async def test_event_reaches_one_replica_of_each_sink_host(bus: str, plane: str) -> None:
    source = Source()
    recorders = [Recorder(), Recorder()]
    vetoer = Vetoer()
    async with App(source, *recorders, vetoer, bus=bus, plane=plane) as app:
        for i in range(4):
            gathering = source.on_thing(thing=f"t{i}")
            replies = await collect(gathering)
            assert gathering.complete and not gathering.cut_short
            assert sorted((r.host, r.value) for r in replies) == [
                ("recorder.test", True),
                ("vetoer.test", False),
            ]
        assert len(recorders[0].seen) + len(recorders[1].seen) == 4
        assert len(vetoer.seen) == 4
        assert app.actors


async def test_sink_error_is_an_error_reply_and_others_still_arrive(bus: str, plane: str) -> None:
    source = Source()
    async with App(source, Recorder(), Broken(), bus=bus, plane=plane):
        replies = {r.host: r for r in await collect(source.on_thing(thing="x"))}
        assert replies["recorder.test"].value is True
        bad = replies["broken.test"]
        assert not bad.ok
        assert isinstance(bad.error, actorbus.RemoteError)
        assert bad.error.remote_type == "RuntimeError"
        with pytest.raises(actorbus.RemoteError, match="cannot handle x"):
            bad.value  # noqa: B018


async def test_zero_sinks_ends_at_once(bus: str, plane: str) -> None:
    """An ack window longer than the budget: waiting it out would cut the gathering short."""
    source = Source()
    async with App(source, bus=bus, plane=plane, ack_window=3600, default_budget=20):
        gathering = source.on_thing(thing="nobody")
        assert await collect(gathering) == []
        assert gathering.complete and not gathering.cut_short  # the no-responders path


async def test_known_responders_end_the_gathering_before_the_ack_window(
    bus: str, plane: str
) -> None:
    """An ack window longer than the budget: only knowing the sinks can complete a gathering."""
    source = Source()
    async with App(source, Recorder(), bus=bus, plane=plane, ack_window=3600, default_budget=20):
        for thing in ("first", "again"):  # the directory knows the sink, then so does the cache
            gathering = source.on_thing(thing=thing)
            assert len(await collect(gathering)) == 1
            assert gathering.complete and not gathering.cut_short


async def test_a_new_sink_is_not_missed(bus: str, plane: str) -> None:
    source = Source()
    async with App(source, Recorder(), bus=bus, plane=plane, ack_window=0.3) as app:
        await collect(source.on_thing(thing="warm"))  # fills the responders cache
        newcomer = await app.add(Vetoer())
        replies = await collect(source.on_thing(thing="after"))
        assert sorted(r.host for r in replies) == ["recorder.test", "vetoer.test"]
        assert newcomer.seen == ["after"]


async def test_sink_in_another_app_on_the_same_bus(bus: str, plane: str) -> None:
    shared = actorbus._transport.memory.MemoryBus() if bus == "memory" else bus  # type: ignore[attr-defined]
    source = Source()
    async with App(source, bus=shared, plane=plane), App(Recorder(), bus=shared, plane=plane):
        replies = await collect(source.on_thing(thing="remote"))
        assert [(r.host, r.value) for r in replies] == [("recorder.test", True)]


async def test_fire_and_forget(bus: str, plane: str) -> None:
    source, recorder = Source(), Recorder()
    async with App(source, recorder, bus=bus, plane=plane):
        await source.on_thing(thing="ff")
        with trio.fail_after(5):
            await recorder.got.wait()
        assert recorder.seen == ["ff"]


async def test_custom_port_and_path(bus: str, plane: str) -> None:
    source = Source()
    async with App(source, Recorder(), bus=bus, plane=plane):
        replies = await collect(source.on_custom(n=21))
        assert [r.value for r in replies] == [42]


async def test_breaking_off_early_cleans_up_and_cancels_running_sinks(bus: str, plane: str) -> None:
    source, fast, slow = Source(), Vetoer(), Recorder()
    slow.block = True
    async with App(source, fast, slow, bus=bus, plane=plane):
        async with source.on_thing(thing="x") as gathering:
            async for reply in gathering:
                assert reply.host == "vetoer.test"
                break
        with trio.fail_after(30):
            await slow.cancelled.wait()
        assert slow.before_its_budget  # the close cancelled it, not its own deadline
        assert [r async for r in gathering] == [] and not gathering.complete
        slow.block = False
        replies = await collect(source.on_thing(thing="y"))  # the next one is unaffected
        assert sorted(r.host for r in replies) == ["recorder.test", "vetoer.test"]


async def test_a_bare_break_is_closed_when_the_budget_ends(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    """Without ``async with``, nothing closes a gathering left by ``break`` until its budget
    ends: then it is closed (cut short) without anyone iterating it."""
    source, fast, slow = Source(), Vetoer(), Recorder()
    slow.block = True
    async with App(source, fast, slow, plane=plane, default_budget=5):
        gathering = source.on_thing(thing="x")
        async for _ in gathering:
            break
        await trio.testing.wait_all_tasks_blocked()
        assert not gathering.cut_short
        await trio.sleep_until(gathering.deadline + 0.1)  # the autojump clock: no real wait
        await slow.cancelled.wait()
        assert gathering.cut_short and not gathering.complete
        assert [r async for r in gathering] == []


async def test_default_budget_cuts_the_gathering_short(plane: str) -> None:
    source, slow = Source(), Recorder()
    slow.block = True
    async with App(source, slow, Vetoer(), plane=plane, default_budget=0.5, grace=1):
        gathering = source.on_thing(thing="x")
        replies = await collect(gathering)
        hosts = sorted((r.host, r.ok) for r in replies)
        # the slow sink times out inside its own budget and says so (408), then it is complete
        assert hosts == [("recorder.test", False), ("vetoer.test", True)]
        assert isinstance(replies[0].error or replies[1].error, actorbus.TimeBudgetExceeded)


async def test_callers_deadline_during_gathering(bus: str, plane: str) -> None:
    source, slow = Source(), Recorder()
    slow.block = True
    async with App(source, slow, bus=bus, plane=plane, hop_reserve=0.5):
        got: list[Reply] = []
        with trio.move_on_after(1) as scope:
            async for reply in source.on_thing(thing="x"):
                got.append(reply)
        # the sink ran under the budget less the hop reserve and answered 408 in time
        assert not scope.cancelled_caught
        assert [r.error.status for r in got if r.error] == [408]


async def test_reply_that_does_not_decode_is_an_error_reply(app: App) -> None:
    source = Source()
    await app.add(source)
    await app.add(Liar())
    (reply,) = await collect(source.on_plain(n=1))
    assert not reply.ok
    assert isinstance(reply.error, actorbus.BusError)


class Echo(Actor):
    hostname = "echo.test"

    @endpoint
    async def me(self) -> str:
        return self.instance


async def test_multicast_reaches_every_replica(bus: str, plane: str) -> None:
    echoes = [Echo(), Echo(), Echo()]
    async with App(*echoes, bus=bus, plane=plane) as app:
        replies = await collect(app.client(Echo).multicast.me())
        assert sorted(r.value for r in replies) == sorted(e.instance for e in echoes)
        assert sorted(r.instance for r in replies) == sorted(e.instance for e in echoes)


async def test_async_with_closes_the_gathering(app: App) -> None:
    source, slow = Source(), Recorder()
    slow.block = True
    await app.add(source)
    await app.add(slow)
    with trio.fail_after(30):
        async with source.on_thing(thing="x") as gathering:
            await slow.got.wait()
        await slow.cancelled.wait()
    assert slow.before_its_budget  # the close cancelled it, not its own deadline
    assert [r async for r in gathering] == []


def test_sink_signature_must_match_the_event() -> None:
    with pytest.raises(TypeError, match="must match"):

        class Wrong(Actor):
            hostname = "wrong.test"

            @sink(Source.on_thing)
            async def thing(self, other: str) -> bool:
                return True

    with pytest.raises(TypeError, match="parameter 'thing'"):

        class WrongType(Actor):
            hostname = "wrong.test"

            @sink(Source.on_thing)
            async def thing(self, thing: int) -> bool:
                return True


def test_sink_needs_an_event() -> None:
    with pytest.raises(TypeError, match="takes an event"):
        sink("source.test/on-thing")  # type: ignore[arg-type]
