"""The transport seam: bytes and subjects only, never frames.

A transport delivers each inbound message by calling a plain synchronous callback in the Trio
thread; the callback must not block (the runtime hands messages on with ``send_nowait``).
Publishing is synchronous and non-blocking too: it buffers, so the receive path can ack and
answer without awaiting, and a cancelled caller can still send its cancel frame.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import trio

__all__ = [
    "Deliver",
    "Headers",
    "Message",
    "PayloadTooLarge",
    "Subscription",
    "Transport",
    "TransportClosed",
    "TransportError",
    "refused_subject",
]


@dataclass(slots=True, frozen=True)
class Message:
    """One inbound message. ``no_responders`` marks the server's status for an unheard request;
    ``headers`` is None for a message sent without any (the common case: no dict is made),
    and a status the server sent (JetStream's ``404``, ``408`` …) is its ``Status`` header."""

    subject: str
    data: bytes
    reply: str | None = None
    no_responders: bool = False
    headers: Mapping[str, str] | None = None


Deliver = Callable[[Message], None]
"""A subscription's callback: called in the Trio thread for each message; it must not block."""
#: NATS headers to publish (`Transport.supports_headers`), or None for none.
Headers = dict[str, str] | None


_REFUSED_PUBLISH = re.compile(r'permissions violation for publish to "([^"]+)"', re.IGNORECASE)


def refused_subject(text: str) -> str | None:
    """The subject of a server error that refuses a publish, or None for any other error."""
    match = _REFUSED_PUBLISH.search(text)
    return match.group(1) if match else None


class TransportError(Exception):
    """The transport cannot do what was asked (not connected, server gone, refused)."""


class TransportClosed(TransportError):
    """The transport was closed by its owner."""


class PayloadTooLarge(TransportError):
    """A message exceeds the server's ``max_payload``; nothing was sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes exceeds the bus limit of {limit} bytes")
        self.size = size
        self.limit = limit


class Subscription(ABC):
    """Handle of one subscription; `unsubscribe` is idempotent."""

    subject: str
    queue: str | None

    @abstractmethod
    async def unsubscribe(self) -> None:
        """Stop delivery to this subscription; calling it again does nothing."""


class Transport(ABC):
    """What the runtime needs from a message bus. Implementations: memory, NATS."""

    #: Largest payload the bus accepts, in bytes.
    max_payload: int = 1024 * 1024
    #: True when `publish` takes ``headers=`` (and inbound messages carry theirs); a
    #: transport written before headers existed leaves it False and is never passed any.
    supports_headers: bool = False
    #: How durable sinks run: ``"jetstream"``, ``"live"`` (no JetStream, as on the memory
    #: bus: served like any sink, at most once) or None (refused with `durable_refusal`).
    durable_mode: str | None = None
    durable_refusal = "durable sinks need a transport with JetStream"

    @abstractmethod
    def publish(
        self, subject: str, data: bytes, *, reply: str | None = None, headers: Headers = None
    ) -> None:
        """Queue one message for sending; never blocks. Raises `PayloadTooLarge`,
        `TransportClosed` or `TransportError`. With ``reply`` set and nobody subscribed, a
        ``Message(no_responders=True)`` is delivered to the subscribers of ``reply``.
        ``headers`` (only where `supports_headers`) go out as NATS headers (HPUB)."""

    @abstractmethod
    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        """Start delivering messages matching ``subject`` (NATS wildcards allowed). With a
        ``queue``, each message goes to one member of that queue group."""

    @abstractmethod
    async def flush(self) -> None:
        """Return once everything published or subscribed so far has reached the server."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close; idempotent. Later publishes raise `TransportClosed`."""

    @property
    def backlogged(self) -> bool:
        """True when a producer that does not otherwise yield (a loop of fire-and-forget
        events) should `wait_writable` before publishing more. The default always says so:
        a transport with no outbound buffer to fill delivers as the publisher goes."""
        return True

    async def wait_writable(self) -> None:
        """Return once publishing may go on: the outbound backlog was written (a checkpoint
        in the default)."""
        await trio.lowlevel.checkpoint()

    @property
    def connected(self) -> bool:
        """True while messages can flow; False during a reconnect and once closed."""
        return True

    async def wait_connected(self) -> None:
        """Return once `connected` (again); raise `TransportClosed` once the transport is closed.

        The default suits a transport that is always connected until closed."""
        await trio.lowlevel.checkpoint()

    async def wait_disconnected(self) -> None:
        """Return once the connection is lost or closed. The runtime watches this to fail the
        calls in flight at once: their replies can no longer arrive. The default never returns."""
        await trio.sleep_forever()

    def watch_refusals(self, refused: Callable[[str], None]) -> None:
        """Have ``refused(subject)`` called (in the Trio thread, never blocking) each time the
        server refuses a publish on ``subject`` (a permissions violation), so that the calls
        it carried end with that cause instead of waiting out their ack window. The default
        does nothing: a bus without permissions refuses nothing."""
        del refused

    def describe(self) -> str:
        """Human-readable bus address for logs (never includes credentials)."""
        return type(self).__name__
