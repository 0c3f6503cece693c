"""`check_transport`: the behaviour every transport must share (memory, NATS, future ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from .._transport.base import Message, PayloadTooLarge, Transport, TransportClosed

__all__ = ["Inbox", "check_transport"]

Connect = Callable[[], Awaitable[Transport]]


class Inbox:
    """Collects delivered messages; `wait_for(n)` waits on a condition, never on a sleep."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = trio.Event()

    def __call__(self, msg: Message) -> None:
        self.messages.append(msg)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5) -> list[Message]:
        """Wait until ``count`` messages arrived (``trio.TooSlowError`` after ``timeout`` s)."""
        with trio.fail_after(timeout):
            while len(self.messages) < count:
                self._changed = trio.Event()
                await self._changed.wait()
        return self.messages


async def _settle(*transports: Transport) -> None:
    """Make prior publishes and subscriptions effective on the server before going on."""
    for t in transports:
        await t.flush()


async def check_transport(connect: Connect) -> None:
    """Run the conformance suite against transports made by ``connect`` (same bus each time).

    Raises AssertionError on the first deviation. Each check uses fresh subjects so that it can
    run against a shared server.
    """
    a = await connect()
    b = await connect()
    try:
        await _check_delivery(a, b)
        await _check_wildcards(a, b)
        await _check_queue_groups(a, b)
        await _check_no_responders(a, b)
        await _check_unsubscribe(a, b)
        await _check_order(a, b)
        await _check_oversized(a)
    finally:
        await a.aclose()
        await b.aclose()
    await _check_closed(connect)


async def _check_delivery(a: Transport, b: Transport) -> None:
    inbox = Inbox()
    await b.subscribe("ct.deliver.x", inbox)
    await _settle(b)
    a.publish("ct.deliver.x", b"\x00payload\xff", reply="ct.deliver.reply")
    (msg,) = await inbox.wait_for(1)
    assert msg.subject == "ct.deliver.x", msg
    assert msg.data == b"\x00payload\xff", msg
    assert msg.reply == "ct.deliver.reply", msg
    assert not msg.no_responders


async def _check_wildcards(a: Transport, b: Transport) -> None:
    star, tail = Inbox(), Inbox()
    await b.subscribe("ct.wild.*.end", star)
    await b.subscribe("ct.wild.>", tail)
    await _settle(b)
    for subject in ("ct.wild.one.end", "ct.wild.one.two.end", "ct.wild.x"):
        a.publish(subject, b"w")
    await tail.wait_for(3)
    await star.wait_for(1)
    await _settle(a, b)
    assert [m.subject for m in star.messages] == ["ct.wild.one.end"], star.messages
    assert sorted(m.subject for m in tail.messages) == [
        "ct.wild.one.end",
        "ct.wild.one.two.end",
        "ct.wild.x",
    ]


async def _check_queue_groups(a: Transport, b: Transport) -> None:
    group, other, plain = Inbox(), Inbox(), Inbox()
    members: dict[str, int] = {"a": 0, "b": 0}

    def member(name: str) -> Callable[[Message], None]:
        def deliver(msg: Message) -> None:
            members[name] += 1
            group(msg)

        return deliver

    await a.subscribe("ct.queue", member("a"), queue="g")
    await b.subscribe("ct.queue", member("b"), queue="g")
    await b.subscribe("ct.queue", other, queue="h")
    await a.subscribe("ct.queue", plain)
    await _settle(a, b)
    n = 40
    for i in range(n):
        a.publish("ct.queue", str(i).encode())
    await plain.wait_for(n)
    await other.wait_for(n)
    await group.wait_for(n)
    await _settle(a, b)
    got = sorted(int(m.data) for m in group.messages)
    assert got == list(range(n)), f"queue group g must get each message once, got {got}"
    assert sum(members.values()) == n


async def _check_no_responders(a: Transport, b: Transport) -> None:
    replies = Inbox()
    await a.subscribe("ct.nr.reply.*", replies)
    await _settle(a)
    a.publish("ct.nr.nobody.listens", b"?", reply="ct.nr.reply.1")
    (msg,) = await replies.wait_for(1)
    assert msg.no_responders, f"expected a no-responders status, got {msg}"
    assert msg.subject == "ct.nr.reply.1"


async def _check_unsubscribe(a: Transport, b: Transport) -> None:
    gone, stays = Inbox(), Inbox()
    sub = await b.subscribe("ct.unsub", gone)
    await b.subscribe("ct.unsub", stays)
    await _settle(b)
    a.publish("ct.unsub", b"1")
    await gone.wait_for(1)
    await sub.unsubscribe()
    await sub.unsubscribe()  # idempotent
    await _settle(b)
    a.publish("ct.unsub", b"2")
    await stays.wait_for(2)
    await _settle(a, b)
    assert [m.data for m in gone.messages] == [b"1"], gone.messages


async def _check_order(a: Transport, b: Transport) -> None:
    inbox = Inbox()
    await b.subscribe("ct.order", inbox)
    await _settle(b)
    n = 500
    for i in range(n):
        a.publish("ct.order", i.to_bytes(4, "big"))
    msgs = await inbox.wait_for(n)
    assert [int.from_bytes(m.data, "big") for m in msgs] == list(range(n))


async def _check_oversized(a: Transport) -> None:
    try:
        a.publish("ct.big", b"x" * (a.max_payload + 1))
    except PayloadTooLarge as exc:
        assert exc.limit == a.max_payload
    else:
        raise AssertionError("publishing past max_payload must raise PayloadTooLarge")
    a.publish("ct.big", b"x")  # the transport is still usable


async def _check_closed(connect: Connect) -> None:
    t = await connect()
    assert t.connected, "a transport is connected once connect() returned"
    with trio.fail_after(5):
        await t.wait_connected()  # returns at once while connected
    await t.aclose()
    assert not t.connected, "a closed transport is not connected"
    with trio.fail_after(5):
        await t.wait_disconnected()  # returns at once once closed
    try:
        await t.wait_connected()
    except TransportClosed:
        pass
    else:
        raise AssertionError("wait_connected after aclose must raise TransportClosed")
    await t.aclose()  # idempotent
    try:
        t.publish("ct.closed", b"x")
    except TransportClosed:
        pass
    else:
        raise AssertionError("publish after aclose must raise TransportClosed")
