"""Failures stay in their actor, and a flood of bad frames costs counts, not log lines."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import trio

from actorbus import App, Error, MemoryBus
from actorbus._runtime import guard as _guard

from .peers import PEER_ACK_WINDOW, Spy, round_trip, subject


class FailsToStart(Spy):
    hostname = "fails-to-start.test"

    async def on_startup(self) -> None:
        raise ValueError("no database")


class FailsToStop(Spy):
    hostname = "fails-to-stop.test"

    async def on_shutdown(self) -> None:
        raise ValueError("could not flush")


async def test_a_failing_on_startup_fails_add_and_nothing_else(app: App) -> None:
    good = await app.add(Spy())
    with trio.fail_after(5), pytest.raises(ValueError, match="no database") as info:
        await app.add(FailsToStart())
    assert any("on_startup failed" in note for note in info.value.__notes__)
    assert await app.client(Spy).hello() == "hi"
    assert app.actors == [good]


async def test_a_failing_on_shutdown_is_logged_and_stops_nothing_else(
    plane: str, caplog: pytest.LogCaptureFixture
) -> None:
    spy = Spy()
    async with App(spy, FailsToStop(), plane=plane) as app:
        actor = app.actors[1]
        await app.remove(actor)
        assert await app.client(Spy).hello() == "hi"
    assert spy._stopped.is_set()
    assert "on_shutdown raised ValueError('could not flush')" in caplog.text


async def test_a_failure_in_an_actors_bookkeeping_stops_only_that_actor(
    plane: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Other(Spy):
        hostname = "other.test"

    broken, other = Spy(), Other()
    async with App(broken, other, plane=plane) as app:
        server = broken._server
        assert server is not None

        def explode(*args: object) -> None:
            raise RuntimeError("bookkeeping bug")

        server._answer = explode  # type: ignore[method-assign]
        with trio.fail_after(10), pytest.raises(Error):
            await app.caller.call(  # over the bus: a co-located call would run inline
                "spy.test", 443, "GET", "/hello", _empty(), bytes, instance=broken.instance
            )
        with trio.fail_after(10):
            await broken._stopped.wait()
        assert await app.client(Other).hello() == "hi"  # its sibling and the App go on
    assert "failed and was stopped: RuntimeError('bookkeeping bug')" in caplog.text


def _empty() -> object:
    from actorbus._wire.frames import EMPTY_BODY

    return EMPTY_BODY


async def test_removing_an_actor_never_added_raises_at_once(app: App) -> None:
    with trio.fail_after(1), pytest.raises(ValueError, match="never added"):
        await app.remove(Spy())


async def test_a_flood_of_bad_frames_is_counted_and_logged_once_a_second(
    plane: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log limiter's clock is the test's: 300 frames at one instant make one line, and the
    next line, a second later, carries the count held back since."""
    now = [1000.0]
    monkeypatch.setattr(_guard, "time", SimpleNamespace(monotonic=lambda: now[0]))
    caplog.set_level(logging.INFO, logger="actorbus")
    spy, bus = Spy(), MemoryBus()
    async with (
        App(spy, bus=bus, plane=plane),
        App(bus=bus, plane=plane, ack_window=PEER_ACK_WINDOW) as peer,
    ):
        where = subject(peer, "spy.test", "/slow")
        for i in range(300):
            peer.transport.publish(where, bytes([0xC1, i % 256]))
        await round_trip(peer)
        assert spy.stats.wire["malformed"] == 300
        lines = [r.getMessage() for r in caplog.records if r.name == "actorbus.wire"]
        assert len(lines) == 1 and "spy.test: 1 malformed since the last report" in lines[0]
        now[0] += 0.999
        peer.transport.publish(where, b"\xc1")
        await round_trip(peer)
        assert len([r for r in caplog.records if r.name == "actorbus.wire"]) == 1
        now[0] += 0.001
        peer.transport.publish(where, b"\xc1")
        await round_trip(peer)
    lines = [r.getMessage() for r in caplog.records if r.name == "actorbus.wire"]
    assert len(lines) == 2 and "spy.test: 301 malformed since the last report" in lines[1]
