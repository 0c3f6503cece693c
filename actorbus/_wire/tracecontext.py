"""W3C Trace Context (pure): parse and format the ``traceparent`` value.

The transport carries bytes without NATS headers, so a request's ``traceparent`` travels as a
frame field (`Request.traceparent`); a plain NATS client or an HTTP gateway sets it to continue
an upstream trace through the bus.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["format_traceparent", "parse_traceparent"]

_TRACEPARENT: Final = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def parse_traceparent(value: str) -> tuple[str, str] | None:
    """``00-<trace id>-<parent span id>-<flags>`` → (trace id, parent span id), or None when
    the value is missing or invalid (version ff, all-zero ids, bad shape)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, _flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    if version == "00" and len(value.strip()) != 55:
        return None
    return trace_id, span_id


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    """(trace id, span id) → a version-00 ``traceparent`` value."""
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"
