"""Unicast calls on both buses: values, validation, errors, budget, depth, lifecycle."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import trio

import actorbus
from actorbus import AckTimeout, App, BadRequest, NoResponder, RemoteError, TimeBudgetExceeded

from .actors import Calc, Point


async def test_call_returns_typed_values(bus: str, plane: str) -> None:
    async with App(Calc(), bus=bus, plane=plane) as app:
        calc = app.client(Calc)
        assert await calc.add(a=2, b=3) == 5
        assert await calc.add(a=2) == 3
        assert await calc.add(4, 5) == 9
        assert await calc.norm(p=Point(-1, 2)) == Point(1, 2)
        assert await calc.norm(p={"x": 3, "y": -4}) == Point(3, 4)


@pytest.mark.parametrize(
    "kwargs",
    [{"a": "two"}, {}, {"a": 1, "c": 2}, {"a": 1.5}],
    ids=["wrong-type", "missing", "extra", "float-for-int"],
)
async def test_bad_arguments_raise_bad_request_on_the_caller(
    bus: str, plane: str, kwargs: dict[str, object]
) -> None:
    async with App(Calc(), bus=bus, plane=plane) as app:
        with pytest.raises(BadRequest) as info:
            await app.client(Calc).add(**kwargs)
        assert info.value.status == 400
        assert "add" in str(info.value)
        assert await app.client(Calc).add(a=1) == 2  # still serving


async def test_untyped_caller_gets_bad_request_from_the_callee(bus: str, plane: str) -> None:
    async with App(Calc(), bus=bus, plane=plane) as app:
        body = actorbus._wire.frames.encode_body({"a": "x"})  # type: ignore[attr-defined]
        with pytest.raises(BadRequest):
            await app.caller.call("calc.test", 443, "POST", "/add", body, lambda b: b)


async def test_unknown_endpoint_is_an_attribute_error(app: App) -> None:
    await app.add(Calc())
    with pytest.raises(AttributeError, match="no endpoint 'nope'"):
        app.client(Calc).nope  # noqa: B018


async def test_handler_exception_becomes_remote_error(bus: str, plane: str) -> None:
    async with App(Calc(), bus=bus, plane=plane) as app:
        with pytest.raises(RemoteError) as info:
            await app.client(Calc).fail(message="boom")
        err = info.value
        assert err.status == 500
        assert err.remote_type == "ValueError"
        assert err.message == "boom"
        assert "in fail" in err.remote_traceback
        assert err.host == "calc.test"
        assert await app.client(Calc).add(a=1) == 2


async def test_http_error_keeps_its_status(app: App) -> None:
    await app.add(Calc())
    with pytest.raises(RemoteError) as info:
        await app.client(Calc).missing(key="k")
    assert info.value.status == 404
    assert "no such key k" in info.value.message


async def test_wrong_return_type_is_a_server_error(app: App) -> None:
    await app.add(Calc())
    with pytest.raises(RemoteError) as info:
        await app.client(Calc).lie()
    assert info.value.status == 500
    assert "does not match its annotation" in info.value.message


async def test_no_responder_is_fast(bus: str, plane: str) -> None:
    async with App(bus=bus, plane=plane) as app:
        with trio.fail_after(1):
            with pytest.raises(NoResponder) as info:
                await app.client(Calc).add(a=1)
        assert info.value.status == 404


async def test_ack_window_catches_a_silent_subscriber(app: App) -> None:
    """A subscriber that never acks (stuck or not an actor) → AckTimeout after the ack window."""
    subject = actorbus._wire.subjects.subscription_subject(  # type: ignore[attr-defined]
        app.plane, 443, "calc.test", "POST", "/add"
    )
    await app.transport.subscribe(subject, lambda msg: None, queue="calc.test")
    with trio.fail_after(2):
        with pytest.raises(AckTimeout) as info:
            await app.client(Calc).add(a=1)
    assert info.value.status == 504
    assert not isinstance(info.value, NoResponder)
    assert "may have run" in str(info.value)


async def test_handler_runs_under_the_callers_budget(bus: str, plane: str) -> None:
    async with App(Calc(), bus=bus, plane=plane) as app:
        with trio.move_on_after(3):
            remaining = await app.client(Calc).remaining()
        assert 0 < remaining <= 3
        remaining = await app.client(Calc).remaining()
        assert 3 < remaining <= 20  # the default budget


async def test_default_budget_exceeded(plane: str) -> None:
    calc = Calc()
    async with App(calc, plane=plane, default_budget=0.3, grace=0.5) as app:
        with pytest.raises(TimeBudgetExceeded) as info:
            await app.client(Calc).forever()
        assert isinstance(info.value, trio.TooSlowError)
        assert info.value.status == 408
    assert calc.finished == ["forever"]


async def test_callers_own_deadline_fires_its_own_scope(bus: str, plane: str) -> None:
    calc = Calc()
    async with App(calc, bus=bus, plane=plane, grace=1) as app:
        with trio.move_on_after(0.5) as scope:
            await app.client(Calc).forever()
        assert scope.cancelled_caught
        assert math.isinf(trio.current_effective_deadline())


async def test_call_depth_limit(app: App) -> None:
    await app.add(Calc())
    with pytest.raises(RemoteError) as info:
        await app.client(Calc).recurse(n=0)
    assert info.value.status == 508
    assert info.value.remote_type == "CallDepthExceeded"


async def test_on_startup_runs_before_subscription(app: App) -> None:
    gate = trio.Event()
    entered = trio.Event()

    class Slow(Calc):
        async def on_startup(self) -> None:
            entered.set()
            await gate.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(app.add, Slow())
        await entered.wait()
        with pytest.raises(NoResponder):
            await app.client(Slow).add(a=1)
        gate.set()
    assert await app.client(Slow).add(a=1) == 2


async def test_failing_on_startup_raises_from_add(app: App) -> None:
    class Broken(Calc):
        async def on_startup(self) -> None:
            raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database"):
        await app.add(Broken())
    await app.add(Calc())  # the app keeps working
    assert await app.client(Calc).add(a=1) == 2


async def test_graceful_exit_answers_requests_in_flight(bus: str, plane: str) -> None:
    shared = actorbus._transport.memory.MemoryBus() if bus == "memory" else bus  # type: ignore[attr-defined]
    calc = Calc()
    async with App(bus=shared, plane=plane) as client_app:
        results: list[str] = []
        async with trio.open_nursery() as nursery:
            server = App(calc, bus=shared, plane=plane, grace=5)
            await server.__aenter__()

            async def call() -> None:
                results.append(await client_app.client(Calc).slow(tag="t1"))

            nursery.start_soon(call)
            await calc.started.wait()

            async def release_soon() -> None:
                await calc._stop.wait()  # the App is draining: intake stopped, handler runs
                calc.release.set()

            nursery.start_soon(release_soon)
            await server.__aexit__(None, None, None)
        assert results == ["t1"]
        assert calc.finished == ["t1"]


async def test_grace_period_then_cancel(plane: str) -> None:
    calc = Calc()
    shared = actorbus._transport.memory.MemoryBus()  # type: ignore[attr-defined]
    async with App(bus=shared, plane=plane) as client_app:
        errors: list[RemoteError] = []

        async def call() -> None:
            with trio.fail_after(5):
                try:
                    await client_app.client(Calc).forever()
                except RemoteError as exc:
                    errors.append(exc)

        async with trio.open_nursery() as nursery:
            server = App(calc, bus=shared, plane=plane, grace=0.2)
            await server.__aenter__()
            nursery.start_soon(call)
            await calc.started.wait()
            await server.__aexit__(None, None, None)
        assert calc.finished == ["forever"]
        assert [e.status for e in errors] == [503]


async def test_add_while_running_and_remove(app: App) -> None:
    first = await app.add(Calc())
    assert await app.client(Calc).who() == first.instance
    second = Calc()
    await app.add(second)
    await app.remove(first)
    assert await app.client(Calc).who() == second.instance


async def test_malformed_frames_are_dropped_and_the_actor_keeps_serving(app: App) -> None:
    await app.add(Calc())
    subject = actorbus._wire.subjects.request_subject(  # type: ignore[attr-defined]
        app.plane, 443, "calc.test", "POST", "/add", source=app.hostname
    )
    for garbage in (b"", b"\xc1", b"\x92\x01\x02", b"not msgpack at all"):
        app.transport.publish(subject, garbage, reply=None)
    await app.transport.flush()
    assert await app.client(Calc).add(a=41) == 42


async def test_oversized_payloads_are_refused_cleanly(plane: str) -> None:
    small = actorbus._transport.memory.MemoryBus(max_payload=2000)  # type: ignore[attr-defined]
    async with App(Calc(), bus=small, plane=plane, max_body=3000) as app:
        # co-located calls skip the bus; a second App makes the request cross it
        async with App(bus=small, plane=plane, max_body=3000) as other:
            assert await other.client(Calc).echo(data="x" * 2500) == "x" * 2500  # in pieces
            with pytest.raises(actorbus.PayloadTooLarge) as info:
                await other.client(Calc).echo(data="x" * 5000)
            assert info.value.status == 413
            assert await other.client(Calc).echo(data="ok") == "ok"
        with pytest.raises(actorbus.PayloadTooLarge):  # the same limit co-located
            await app.client(Calc).echo(data="x" * 5000)
        assert await app.client(Calc).echo(data="still fine") == "still fine"


def test_invalid_hostname_fails_at_class_definition() -> None:
    with pytest.raises(ValueError, match="invalid hostname"):

        class Bad(actorbus.Actor):
            hostname = "bad host!"


def test_invalid_route_fails_at_declaration() -> None:
    with pytest.raises(ValueError, match="route"):

        @actorbus.endpoint("GET / x y")
        async def handler(self: object) -> None: ...


def test_generator_handler_is_refused() -> None:
    # A plain def is a blocking handler (it runs in a worker thread); a generator is neither.
    with pytest.raises(TypeError, match="async def"):

        @actorbus.endpoint
        def handler(self: object) -> Iterator[int]:
            yield 1


def test_actor_without_hostname() -> None:
    class NoHost(actorbus.Actor):
        pass

    with pytest.raises(TypeError, match="hostname"):
        NoHost()


async def test_values_msgpack_cannot_carry_are_named_on_each_side(app: App) -> None:
    """An int past 64 bits: BadRequest before sending; from a handler, a 500 naming it."""

    class Big(actorbus.Actor):
        hostname = "big.test"

        @actorbus.endpoint
        async def scale(self, a: int) -> int:
            return a * 2**40

    await app.add(Big())
    with pytest.raises(BadRequest, match="cannot be sent on the bus"):
        await app.client(Big).scale(a=2**70)
    with pytest.raises(RemoteError, match="returned a value that cannot be sent") as info:
        await app.client(Big).scale(a=2**40)
    assert info.value.status == 500
    assert await app.client(Big).scale(a=1) == 2**40
