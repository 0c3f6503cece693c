"""actorbus: actors as classes on Trio, talking over NATS (or an in-process memory bus)."""

from ._app import App as App
from ._runtime.actor import Actor as Actor
from ._runtime.api import Api as Api
from ._runtime.declarations import config as config
from ._runtime.declarations import endpoint as endpoint
from ._runtime.declarations import event as event
from ._runtime.declarations import sink as sink
from ._runtime.declarations import ticker as ticker
from ._runtime.errors import AckTimeout as AckTimeout
from ._runtime.errors import BadRequest as BadRequest
from ._runtime.errors import BusError as BusError
from ._runtime.errors import CallDepthExceeded as CallDepthExceeded
from ._runtime.errors import Error as Error
from ._runtime.errors import Forbidden as Forbidden
from ._runtime.errors import HTTPError as HTTPError
from ._runtime.errors import NoResponder as NoResponder
from ._runtime.errors import Overloaded as Overloaded
from ._runtime.errors import PayloadTooLarge as PayloadTooLarge
from ._runtime.errors import RemoteError as RemoteError
from ._runtime.errors import TimeBudgetExceeded as TimeBudgetExceeded
from ._runtime.gathering import Gathering as Gathering
from ._runtime.replies import Reply as Reply
from ._runtime.request import RequestInfo as RequestInfo
from ._runtime.request import current_request as current_request
from ._runtime.web import HttpResponse as HttpResponse
from ._version import __version__ as __version__
from .transport import MemoryBus as MemoryBus
from .transport import Message as Message
from .transport import Subscription as Subscription
from .transport import Transport as Transport

__all__ = [
    "AckTimeout",
    "Actor",
    "Api",
    "App",
    "BadRequest",
    "BusError",
    "CallDepthExceeded",
    "Error",
    "Forbidden",
    "Gathering",
    "HTTPError",
    "HttpResponse",
    "MemoryBus",
    "Message",
    "NoResponder",
    "Overloaded",
    "PayloadTooLarge",
    "RemoteError",
    "Reply",
    "RequestInfo",
    "Subscription",
    "TimeBudgetExceeded",
    "Transport",
    "__version__",
    "config",
    "current_request",
    "endpoint",
    "event",
    "sink",
    "ticker",
]
