"""The transport interface, for people who write a transport or test one.

``App(bus=...)`` accepts a `MemoryBus` (shared by several Apps in one process) or any connected
`Transport`; `actorbus.testing.check_transport` checks a new transport against the contract
the runtime relies on.
"""

from ._transport.base import Deliver as Deliver
from ._transport.base import Message as Message
from ._transport.base import PayloadTooLarge as PayloadTooLarge
from ._transport.base import Subscription as Subscription
from ._transport.base import Transport as Transport
from ._transport.base import TransportClosed as TransportClosed
from ._transport.base import TransportError as TransportError
from ._transport.memory import MemoryBus as MemoryBus
from ._transport.memory import MemoryTransport as MemoryTransport

__all__ = [
    "Deliver",
    "MemoryBus",
    "MemoryTransport",
    "Message",
    "PayloadTooLarge",
    "Subscription",
    "Transport",
    "TransportClosed",
    "TransportError",
]
