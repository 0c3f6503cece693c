"""actorbus: actors as classes on Trio, talking over NATS (or an in-process memory bus)."""

from ._actor import Actor as Actor
from ._app import App as App
from ._decorators import config as config
from ._decorators import endpoint as endpoint
from ._decorators import event as event
from ._decorators import sink as sink
from ._decorators import ticker as ticker
from ._errors import BadRequest as BadRequest
from ._errors import BusError as BusError
from ._errors import CallDepthExceeded as CallDepthExceeded
from ._errors import Error as Error
from ._errors import HTTPError as HTTPError
from ._errors import NoResponder as NoResponder
from ._errors import PayloadTooLarge as PayloadTooLarge
from ._errors import RemoteError as RemoteError
from ._errors import TimeBudgetExceeded as TimeBudgetExceeded
from ._publish import Gathering as Gathering
from ._replies import Reply as Reply
from ._version import __version__ as __version__

__all__ = [
    "Actor",
    "App",
    "BadRequest",
    "BusError",
    "CallDepthExceeded",
    "Error",
    "Gathering",
    "HTTPError",
    "NoResponder",
    "PayloadTooLarge",
    "RemoteError",
    "Reply",
    "TimeBudgetExceeded",
    "__version__",
    "config",
    "endpoint",
    "event",
    "sink",
    "ticker",
]
