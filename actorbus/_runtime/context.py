"""What every caller and server of one App shares: its options, the request being handled, ids."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .._observe.current import current_request
from .._wire import callstate as _callstate

__all__ = ["CallOptions", "current_request", "new_instance_id"]


def new_instance_id() -> str:
    """10 lower-case base32 characters, as Microbus."""
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    return "".join(alphabet[b & 31] for b in secrets.token_bytes(10))


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Tunables shared by every caller and server of an App."""

    ack_window: float = _callstate.DEFAULT_ACK_WINDOW
    hop_reserve: float = _callstate.DEFAULT_HOP_RESERVE
    default_budget: float = _callstate.DEFAULT_BUDGET
    max_depth: int = _callstate.MAX_DEPTH
    ack_delay: float = 0.02  # a reply sooner than this replaces the ack; must be << ack_window
    max_budget: float = _callstate.DEFAULT_MAX_BUDGET  # cap on the budget a request brings
    max_body: int = _callstate.DEFAULT_MAX_BODY  # bytes of a request's or reply's body
    #: Who gets a handler's traceback in its fault: every caller (True), none (False), or the
    #: listed hostnames (authentic under the generated ACLs).
    tracebacks: bool | frozenset[str] = True
