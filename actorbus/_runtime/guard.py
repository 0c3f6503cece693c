"""Counting what the wire got wrong: refused, dropped and forged frames, per actor.

Every kind of bad input is counted (``actor.stats.wire``, the control plane's ``/stats``) and
logged at most once per second per kind, with the count since the last line, so a flood of
garbage costs a dictionary increment per frame and a bounded number of log lines.
"""

from __future__ import annotations

import logging
import time
from typing import Final

__all__ = ["KINDS", "WireGuard"]

log = logging.getLogger("actorbus.wire")

#: The kinds counted, and how loud their log line is. Late cancels and replies are a normal
#: part of cancellation, full queues are load, the rest only come from a broken or hostile peer.
KINDS: Final[dict[str, int]] = {
    "malformed": logging.WARNING,  # not a frame, a frame of the wrong kind, impossible fields
    "mismatch": logging.WARNING,  # routing fields or caller disagree with the subject
    "forbidden": logging.WARNING,  # refused with 403: the handler's callers= leave the caller out
    "duplicate": logging.WARNING,  # a request whose call is already running or queued
    "unauthenticated": logging.WARNING,  # wrong call token; a no-responders status after an ack
    "unmatched": logging.INFO,  # a cancel, ack or reply for no call of ours (late or forged)
    "overloaded": logging.WARNING,  # refused with 503: the handler's bound and queue are full
    "dropped": logging.WARNING,  # a fire-and-forget request past the bound, dropped
    "too_large": logging.WARNING,  # a request or reply over the body limit, refused (413)
    "fragment_unmatched": logging.INFO,  # a piece for no set in progress (late or forged)
    "fragment_invalid": logging.WARNING,  # pieces that contradict their set, or sent elsewhere
    "fragment_stalled": logging.WARNING,  # a set dropped: no piece came for the stall timeout
    "fragment_refused": logging.WARNING,  # a set refused: the reassembly bound is reached
    "internal": logging.ERROR,  # a bug in the receive path, contained
}

_INTERVAL: Final = 1.0


class WireGuard:
    """Counters of one identity (an actor instance, or an App's edge) and their log limiter."""

    __slots__ = ("_last", "_since", "counts", "name")

    def __init__(self, name: str, counts: dict[str, int] | None = None) -> None:
        self.name = name
        self.counts = counts if counts is not None else {}
        for kind in KINDS:
            self.counts.setdefault(kind, 0)
        self._since: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._last: dict[str, float] = dict.fromkeys(KINDS, -_INTERVAL)

    def count(self, kind: str, detail: str) -> None:
        """Count one ``kind`` event; log it unless a line for ``kind`` went out < 1 s ago."""
        self.counts[kind] += 1
        self._since[kind] += 1
        now = time.monotonic()
        if now - self._last[kind] < _INTERVAL:
            return
        n, self._since[kind], self._last[kind] = self._since[kind], 0, now
        # ascii(): the detail may quote a peer's bytes; no newline or control character gets out
        log.log(
            KINDS[kind],
            "%s: %d %s since the last report; last: %s",
            self.name,
            n,
            kind,
            ascii(detail[:200]),
        )
