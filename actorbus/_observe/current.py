"""Context variables the runtime sets and the observers read: the request being handled."""

from __future__ import annotations

import contextvars

from .._wire import frames as _frames

__all__ = ["current_request"]

#: The request being handled by the current task (None outside handlers).
current_request: contextvars.ContextVar[_frames.Request | None] = contextvars.ContextVar(
    "actorbus_current_request", default=None
)
