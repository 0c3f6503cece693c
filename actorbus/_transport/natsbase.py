"""What both NATS clients (Trio-native and nats-py) share: waiting on the connection's state,
the error for a publish while disconnected, and reporting refused publishes."""

from __future__ import annotations

from collections.abc import Callable

import trio

from .base import Transport, TransportClosed, TransportError, refused_subject

__all__ = ["NatsBase"]


class NatsBase(Transport):
    """A NATS transport's shared state: ``_public`` (the URLs without credentials),
    ``_closed``, and ``_state_changed``, an Event set and replaced on every change."""

    _public: str
    _closed: bool
    _state_changed: trio.Event
    #: Why the transport gave up for good, if it did (the native client's `NatsAuthError`).
    failure: str | None = None
    _refused: Callable[[str], None] | None = None

    def _closed_for_good(self) -> bool:
        return self._closed

    async def wait_connected(self) -> None:
        """Wait until the connection is up (again); raises `TransportClosed` once closed."""
        while not self.connected:
            if self._closed_for_good():
                raise TransportClosed(f"NATS transport to {self._public} is closed")
            await self._state_changed.wait()
        await trio.lowlevel.checkpoint()

    async def wait_disconnected(self) -> None:
        """Wait until the connection to the server is lost (or closed)."""
        while self.connected:
            await self._state_changed.wait()
        await trio.lowlevel.checkpoint()

    def watch_refusals(self, refused: Callable[[str], None]) -> None:
        self._refused = refused

    def _refusal(self, text: str) -> None:
        """A server error: when it refuses a publish, tell whoever watches refusals."""
        subject = refused_subject(text)
        if subject is not None and self._refused is not None:
            self._refused(subject)

    def describe(self) -> str:
        return self._public

    def _not_connected(self, what: str) -> TransportError:
        if self.failure is not None:
            return TransportClosed(f"{what}: {self.failure}")
        if self._closed:
            return TransportClosed(f"NATS transport to {self._public} is closed")
        return TransportError(f"{what}: not connected to NATS at {self._public} (reconnecting)")
