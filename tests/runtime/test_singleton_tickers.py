"""``@ticker(singleton=True)`` on the memory bus: one runner per process, handed over when it
stops; a beat whose lease lapses is cancelled. (Real leases on NATS: tests/durable.)"""

from __future__ import annotations

import math

import msgspec
import pytest
import trio

from actorbus import Actor, App, BusError, ticker
from actorbus._runtime import actor as actor_module
from actorbus._runtime import singleton
from actorbus._runtime.declarations import TickerSpec
from actorbus._transport.base import Transport


class Sweeper(Actor):
    hostname = "sweeper.example"
    running = 0
    overlapped = False

    def __init__(self, work: float = 0.0) -> None:
        super().__init__()
        self.work = work
        self.beats = 0
        self.finished = 0

    @ticker(seconds=1, singleton=True)
    async def sweep(self) -> None:
        Sweeper.overlapped |= Sweeper.running > 0
        Sweeper.running += 1
        self.beats += 1
        try:
            await trio.sleep(self.work)
            self.finished += 1
        finally:
            Sweeper.running -= 1


class Plain(Actor):
    hostname = "plain.example"

    def __init__(self) -> None:
        super().__init__()
        self.beats = 0

    @ticker(seconds=1)
    async def sweep(self) -> None:
        self.beats += 1


async def test_three_replicas_run_each_beat_once(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    Sweeper.overlapped = False
    async with App(bus="memory", plane=plane) as app:
        replicas = [await app.add(Sweeper()) for _ in range(3)]
        plain = [await app.add(Plain()) for _ in range(3)]
        await trio.sleep(5.5)
    assert sorted(r.beats for r in replicas) == [0, 0, 5]
    assert sorted(r.stats.tick_standby["sweep"] for r in replicas) == [0, 5, 5]
    assert [p.beats for p in plain] == [5, 5, 5]  # without singleton, every replica beats
    assert "sweep" not in plain[0].stats.tick_standby
    assert not Sweeper.overlapped


async def test_the_next_replica_takes_over_when_the_holder_stops(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    async with App(bus="memory", plane=plane) as app:
        replicas = [await app.add(Sweeper()) for _ in range(3)]
        await trio.sleep(2.5)
        (first,) = [r for r in replicas if r.beats]
        rest = [r for r in replicas if r is not first]
        await app.remove(first)
        await trio.sleep(1.0)
        assert first.beats == 2 and sum(r.beats for r in rest) == 1
        await trio.sleep(2.0)
    assert first.beats + sum(r.beats for r in rest) == 5
    assert sorted(r.beats for r in rest) == [0, 3]  # the new holder keeps it


async def test_each_process_has_its_own_runner(autojump_clock: trio.abc.Clock, plane: str) -> None:
    async with App(bus="memory", plane=plane) as one, App(bus="memory", plane=plane) as two:
        a, b = await one.add(Sweeper()), await two.add(Sweeper())
        await trio.sleep(3.5)
    assert (a.beats, b.beats) == (3, 3)


class _Lapsing:
    """A lease held for 1.5 s once, then lost (a partition: the renewal gets no answer)."""

    def __init__(self) -> None:
        self.calls = 0

    async def hold(self) -> float | None:
        self.calls += 1
        return trio.current_time() + 1.5 if self.calls == 1 else None

    async def release(self) -> None:
        pass


async def test_a_beat_is_cancelled_when_its_lease_lapses(
    autojump_clock: trio.abc.Clock, plane: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = _Lapsing()

    async def open_leases(
        transport: Transport, plane: str, host: str, instance: str, specs: list[TickerSpec]
    ) -> singleton.Leases:
        return singleton.Leases({"sweep": lease})

    monkeypatch.setattr(actor_module, "open_leases", open_leases)
    async with App(bus="memory", plane=plane) as app:
        sweeper = await app.add(Sweeper(work=10))
        await trio.sleep(1.5)
        assert sweeper.beats == 1 and Sweeper.running == 1
        await trio.sleep(1.5)  # the lease ran out at 2.5; the renewal at 2 got none
        assert Sweeper.running == 0 and sweeper.finished == 0
        assert sweeper.stats.tick_errors["sweep"] == 1
        await trio.sleep(2.0)
    assert sweeper.beats == 1 and lease.calls >= 3


async def test_a_transport_without_jetstream_refuses_in_one_line(plane: str) -> None:
    class NoJetStream:
        durable_mode = None
        durable_refusal = "durable sinks need a transport with JetStream"

    with pytest.raises(BusError) as caught:
        await singleton.open_leases(
            NoJetStream(),  # type: ignore[arg-type]
            plane,
            "sweeper.example",
            "i1",
            Sweeper._tickers,
        )
    assert str(caught.value) == (
        "sweeper.example: singleton tickers need a transport with JetStream"
    )
    assert (await singleton.open_leases(NoJetStream(), plane, "p", "i", Plain._tickers)).get(  # type: ignore[arg-type]
        "sweep"
    ) is None


def test_singleton_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="singleton= must be True or False"):
        ticker(seconds=1, singleton="yes")  # type: ignore[arg-type]
    assert Sweeper._tickers[0].singleton and not Plain._tickers[0].singleton
    assert math.isclose(Sweeper._tickers[0].interval, 1.0)


def test_describe_says_a_ticker_runs_on_one_replica() -> None:
    from actorbus._cli.describe import format_descriptions
    from actorbus._runtime.description import describe_actor

    found = [msgspec.to_builtins(describe_actor(cls())) for cls in (Sweeper, Plain)]
    assert [d["tickers"][0].get("singleton") for d in found] == [True, None]
    text = format_descriptions(found)
    assert "sweep()  [ticker, one replica]" in text
    assert text.count("sweep()  [ticker]") == 1
