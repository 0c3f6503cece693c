"""Errors that tell the truth: 404 only when nobody is subscribed, AckTimeout when nobody acked,
"outcome unknown" at once when the connection drops or the responder dies after sending."""

from __future__ import annotations

import pytest
import trio

from actorbus import AckTimeout, App, BusError, MemoryBus, NoResponder
from actorbus._transport.base import Deliver, Message, Subscription, TransportError
from actorbus._transport.memory import MemoryTransport
from actorbus._wire import frames

from .actors import Calc


class FlakyTransport(MemoryTransport):
    """A memory connection whose link can be dropped and restored by the test."""

    def __init__(self, bus: MemoryBus) -> None:
        super().__init__(bus)
        self.up = True
        self._changed = trio.Event()

    def set_up(self, up: bool) -> None:
        self.up = up
        self._changed.set()
        self._changed = trio.Event()

    @property
    def connected(self) -> bool:
        return self.up and super().connected

    async def wait_connected(self) -> None:
        while not self.connected:
            await self._changed.wait()
        await super().wait_connected()

    async def wait_disconnected(self) -> None:
        while self.connected:
            await self._changed.wait()

    def publish(self, subject: str, data: bytes, *, reply: str | None = None) -> None:
        if not self.up:
            raise TransportError("not connected (reconnecting)")
        super().publish(subject, data, reply=reply)


class AckSpy(MemoryTransport):
    """A memory connection that sets `acked` when an Ack frame reaches one of its subscribers."""

    def __init__(self, bus: MemoryBus) -> None:
        super().__init__(bus)
        self.acked = trio.Event()

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        def spy(msg: Message) -> None:
            if msg.data and not msg.no_responders:
                try:
                    if isinstance(frames.decode(msg.data), frames.Ack):
                        self.acked.set()
                except frames.FrameError:
                    pass
            deliver(msg)

        return await super().subscribe(subject, spy, queue=queue)


async def test_a_dropped_connection_ends_calls_in_flight_at_once(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    """On the autojump clock, waiting for the 20 s budget would show as 20 s gone by."""
    shared = MemoryBus()
    flaky = FlakyTransport(shared)
    calc = Calc()
    async with App(calc, bus=shared, plane=plane, grace=0.5), App(bus=flaky, plane=plane) as app:
        failed: list[BaseException] = []

        async def call() -> None:
            try:
                await app.client(Calc).forever()  # the default budget is 20 s
            except BusError as exc:
                failed.append(exc)

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(call)
            await calc.started.wait()
            await trio.testing.wait_all_tasks_blocked()
            dropped_at = trio.current_time()
            flaky.set_up(False)
        assert trio.current_time() == dropped_at  # no timer ran: the caller learnt at once
        assert len(failed) == 3
        assert all("outcome is unknown" in str(exc) for exc in failed)
        with pytest.raises(BusError, match="not connected"):  # sent while down: fails fast
            await app.client(Calc).add(a=1)
        flaky.set_up(True)
        with trio.fail_after(5):
            assert await app.client(Calc).add(a=1) == 2


async def test_an_instance_announced_dead_ends_the_calls_it_acknowledged(
    autojump_clock: trio.abc.Clock, plane: str
) -> None:
    """On the autojump clock, waiting for the 20 s budget would show as 20 s gone by."""
    shared = MemoryBus()
    calc, other = Calc(), Calc()
    spy = AckSpy(shared)
    async with (
        App(calc, bus=shared, plane=plane, grace=0.5),
        App(bus=spy, plane=plane) as app,
        App(bus=shared, plane=plane) as supervisor,
    ):
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                with pytest.raises(BusError, match="outcome is unknown"):
                    await app.client(Calc).forever()

            nursery.start_soon(call)
            await spy.acked.wait()  # a long handler is acked after the ack delay
            supervisor.hub.announce_gone([other.instance])  # not the one working: no effect
            await trio.testing.wait_all_tasks_blocked()
            assert nursery.child_tasks
            announced_at = trio.current_time()
            supervisor.hub.announce_gone([calc.instance])
        assert trio.current_time() == announced_at  # no timer ran: the caller learnt at once
        assert await app.client(Calc).add(a=2) == 3  # the bus itself is fine


async def test_ack_timeout_and_no_responder_are_distinct(plane: str) -> None:
    async with App(bus="memory", plane=plane) as app:
        with trio.fail_after(1), pytest.raises(NoResponder) as nobody:
            await app.client(Calc).add(a=1)
        assert not isinstance(nobody.value, AckTimeout)
        assert issubclass(AckTimeout, Exception) and not issubclass(AckTimeout, NoResponder)
        assert AckTimeout("x").status == 504 and nobody.value.status == 404


async def test_memory_transport_is_connected_until_closed() -> None:
    transport = MemoryBus().connect()
    assert transport.connected
    with trio.fail_after(1):
        await transport.wait_connected()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(transport.wait_disconnected)
            await trio.testing.wait_all_tasks_blocked()
            assert nursery.child_tasks  # still waiting: nothing dropped
            await transport.aclose()
    assert not transport.connected
    with pytest.raises(TransportError):
        await transport.wait_connected()


async def test_a_gather_reports_a_dead_responder_at_once(plane: str) -> None:
    from .test_events import Recorder, Source

    shared = MemoryBus()
    source, stuck = Source(), Recorder()
    stuck.block = True

    class Other(Recorder):
        hostname = "other.test"

    spy = AckSpy(shared)
    async with (
        App(stuck, bus=shared, plane=plane, grace=0.5),
        App(Other(), bus=shared, plane=plane, grace=0.5),
        App(source, bus=spy, plane=plane) as app,
    ):
        replies = []
        with trio.fail_after(2):  # far less than the default budget of 20 s
            async with source.on_thing(thing="x") as gathering, trio.open_nursery() as nursery:

                async def collect() -> None:
                    replies.extend([reply async for reply in gathering])

                nursery.start_soon(collect)
                await stuck.got.wait()
                await spy.acked.wait()
                await trio.testing.wait_all_tasks_blocked()
                app.hub.announce_gone([stuck.instance])
        by_host = {reply.host: reply for reply in replies}
        assert by_host["other.test"].ok
        dead = by_host["recorder.test"]
        assert not dead.ok and "outcome is unknown" in str(dead.error)
        assert gathering.complete
