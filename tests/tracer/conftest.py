"""Helpers for the tracer tests: a span listener on the bus and a counting transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from actorbus import App
from actorbus._observe.spans import (
    Span,
    TraceCtl,
    control_subject,
    decode_spans,
    encode_ctl,
    span_wildcard,
)
from actorbus._transport.base import Deliver, Message, Subscription, Transport
from actorbus._transport.memory import MemoryBus, MemoryTransport


class SpanListener:
    """Plays a tracer on the bus: says "on", collects every span published."""

    def __init__(self, transport: Transport, plane: str) -> None:
        self.transport = transport
        self.plane = plane
        self.spans: list[Span] = []
        self._changed = trio.Event()
        self._sub: Subscription | None = None

    def _on(self, msg: Message) -> None:
        self.spans.extend(decode_spans(msg.data))
        self._changed.set()
        self._changed = trio.Event()

    async def start(self) -> None:
        self._sub = await self.transport.subscribe(span_wildcard(self.plane), self._on)
        self.transport.publish(control_subject(self.plane), encode_ctl(TraceCtl("on", "t", 600)))

    async def stop(self) -> None:
        self.transport.publish(control_subject(self.plane), encode_ctl(TraceCtl("off", "t")))
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def wait_for(self, n: int) -> list[Span]:
        while len(self.spans) < n:
            await self._changed.wait()
        return self.spans


class CountingTransport(Transport):
    """A memory transport that counts what is published, per kind of subject."""

    def __init__(self, inner: MemoryTransport) -> None:
        self.inner = inner
        self.max_payload = inner.max_payload
        self.span_publishes = 0
        self.publishes = 0

    def publish(self, subject: str, data: bytes, *, reply: str | None = None) -> None:
        self.publishes += 1
        if ".trace." in subject:
            self.span_publishes += 1
        self.inner.publish(subject, data, reply=reply)

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        return await self.inner.subscribe(subject, deliver, queue=queue)

    async def flush(self) -> None:
        await self.inner.flush()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def traced(plane: str) -> AsyncIterator[tuple[App, SpanListener]]:
    """An App on the memory bus with a span listener attached and seen by the hub."""
    bus = MemoryBus()
    async with App(bus=bus, plane=plane, grace=1.0) as app:
        listener = SpanListener(bus.connect(), plane)
        await listener.start()
        with trio.fail_after(5):
            await app.hub.spans.wait_listening()
        try:
            yield app, listener
        finally:
            await listener.stop()
