"""A server's durable sinks: started instead of live subscriptions, stopped with its intake,
and the intake of their pulled events (the server's `_take`, with a `settle` callback)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .._transport.jetstream import JetStream, JetStreamError
from .._wire import frames as _frames
from .._wire import jetstream as _jetstream
from . import errors as _errors
from .context import CallOptions
from .durable import DurableSink, Settle
from .guard import WireGuard
from .hub import Hub
from .intake import Call, Key, Served

__all__ = ["DurableSinks", "Host"]


class Host(Protocol):
    """What the durable sinks need of their `Server` (which imports this module)."""

    hub: Hub
    host: str
    instance: str
    guard: WireGuard
    options: CallOptions
    _accepting: bool
    _running: dict[Key, Call]

    def fault(
        self, frame: _frames.Request, queue: str, status: int, type_: str, message: str
    ) -> _frames.Fault: ...

    def take(
        self, frame: _frames.Request, served: Served, queue: str, reply: str | None, size: int,
        settle: Settle | None = None,
    ) -> None: ...  # fmt: skip

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> None: ...


class DurableSinks:
    """The durable sinks of one actor instance (its `Server`)."""

    def __init__(self, server: Host) -> None:
        self._server = server
        self._sinks: list[DurableSink] = []
        self._js: JetStream | None = None

    async def start(self, served: Served, subject: str) -> bool:
        """Serve a durable sink from its JetStream consumer (True), or live where the bus has
        no JetStream to offer (False: the memory bus); a transport that cannot raises."""
        server = self._server
        hub, host = server.hub, server.host
        transport = hub.transport
        if transport.durable_mode == "live":
            return False
        if transport.durable_mode != "jetstream":
            raise _errors.BusError(f"{host}: {transport.durable_refusal}")
        if self._js is None:
            inbox = _jetstream.inbox_prefix(hub.plane, host, server.instance)
            self._js = JetStream(transport, inbox)
            await self._js.start()
        sink = DurableSink(self._js, hub.plane, host, served, self.take, server.guard)
        try:
            await sink.setup()
        except JetStreamError as exc:  # one line: "durable sinks need JetStream: ..."
            raise _errors.BusError(f"{host}: {exc}") from None
        self._sinks.append(sink)
        server.spawn(sink.run)
        hub.announce_only(subject, served.queue)  # gatherings expect its answer
        return True

    def stop(self) -> None:
        for sink in self._sinks:
            sink.stop()
            self._server.hub.withdraw_only(sink.subject, sink.served.queue)

    async def aclose(self) -> None:
        """Close the JetStream client's own subscription (once the sinks ended): one per
        instance, so a restart under ``--reload`` leaves none behind."""
        js, self._js = self._js, None
        if js is not None:
            await js.aclose()

    async def drained(self) -> None:
        """Until no durable sink's pull is still open."""
        for sink in self._sinks:
            await sink.drained.wait()

    def take(
        self, frame: _frames.Request, served: Served, reply: str | None, size: int, settle: Settle
    ) -> bool:
        """Take in one event pulled from a durable sink's consumer; False when it cannot run
        here now (shutting down, its line full, a copy already running): JetStream redelivers."""
        server = self._server
        key = (frame.from_instance, frame.msg_id, frame.token)
        if (
            not server._accepting  # the server's own state: this is its durable half
            or key in server._running
            or not served.gate.has_room(reply is None, size)
        ):
            return False
        limit = server.options.max_depth
        if not 0 <= frame.depth <= limit:
            message = f"call depth {frame.depth} is outside 0..{limit}"
            settle(server.fault(frame, served.queue, 508, "CallDepthExceeded", message))
            return True
        server.take(frame, served, served.queue, reply, size, settle)
        return True
