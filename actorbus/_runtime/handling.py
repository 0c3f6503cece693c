"""``actorbus.current_request()``: what the running handler is serving."""

from __future__ import annotations

from .._wire.frames import Request
from .context import current_request as _current

__all__ = ["current_request"]


def current_request() -> Request | None:
    """The request (or event) the current handler is serving, None outside handlers: its
    ``method``, ``path``, ``from_host`` …; for an event its ``event_id`` (the same on every
    redelivery) and, in a durable sink, ``delivered`` (1 on the first delivery; 0 live)."""
    return _current.get()
