"""``@ticker``: beats while the actor is up, skips overlaps, survives errors, stops at shutdown."""

from __future__ import annotations

import trio

from actorbus import Actor, App, ticker


class Clock(Actor):
    hostname = "clock.example"

    def __init__(self, work: float = 0.0, fail_every: int = 0) -> None:
        super().__init__()
        self.work = work
        self.fail_every = fail_every
        self.beats: list[float] = []
        self.running = False
        self.overlapped = False

    @ticker(seconds=1)
    async def beat(self) -> None:
        self.overlapped |= self.running
        self.running = True
        try:
            self.beats.append(trio.current_time())
            if self.fail_every and len(self.beats) % self.fail_every == 0:
                raise ValueError("boom")
            await trio.sleep(self.work)
        finally:
            self.running = False


async def test_ticks_aligned_to_start(autojump_clock: trio.abc.Clock, plane: str) -> None:
    async with App(bus="memory", plane=plane) as app:
        clock = await app.add(Clock())
        start = trio.current_time()
        await trio.sleep(5.5)
    assert [round(t - start, 6) for t in clock.beats] == [1, 2, 3, 4, 5]
    assert clock.stats.ticks["beat"] == 5
    assert clock.stats.tick_skips["beat"] == 0


async def test_overlapping_beats_are_skipped(autojump_clock: trio.abc.Clock, plane: str) -> None:
    async with App(bus="memory", plane=plane) as app:
        clock = await app.add(Clock(work=2.5))
        await trio.sleep(10.5)
    assert not clock.overlapped
    # beats at 1, 4, 7, 10: each run of 2.5 s makes the next two beats skip
    assert clock.stats.ticks["beat"] == 3
    assert clock.stats.tick_skips["beat"] == 6
    assert len(clock.beats) == 4


async def test_errors_are_counted_and_never_fatal(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    async with App(bus="memory", plane=plane) as app:
        clock = await app.add(Clock(fail_every=2))
        await trio.sleep(6.5)
        assert clock.stats.tick_errors["beat"] == 3
        assert clock.stats.ticks["beat"] == 3
        assert len(app.actors) == 1


async def test_stops_at_shutdown(autojump_clock: trio.abc.Clock, plane: str) -> None:
    async with App(bus="memory", plane=plane, grace=1) as app:
        clock = await app.add(Clock(work=100))
        await trio.sleep(1.5)
        assert clock.running
        await app.remove(clock)
        assert not clock.running
        stopped_at = trio.current_time()
        await trio.sleep(5)
    assert len(clock.beats) == 1
    assert stopped_at < 3


async def test_missed_beats_are_skipped_not_replayed(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    class Stall(Actor):
        hostname = "stall.example"

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        @ticker(seconds=1)
        async def beat(self) -> None:
            self.count += 1

    async with App(bus="memory", plane=plane) as app:
        actor = await app.add(Stall())
        await trio.sleep(1.5)
        autojump_clock.jump(10)  # type: ignore[attr-defined]  # the process "stalls" 10 s
        await trio.sleep(0.4)  # now 11.9: the beats at 2..10 were missed; 11 ran once
        assert actor.count == 2
        assert actor.stats.tick_skips["beat"] == 9
