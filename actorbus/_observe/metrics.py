"""Counters the runtime keeps per call: the always-on endpoint stats and the metrics observer.

`EndpointStats` are cheap plain counters per handler (what ``$SRV.STATS`` reports). `Metrics`
is the observer the server and caller call at a few points; this base class is the null object
(``enabled`` False, so the hot path skips even the clock). The Prometheus observer lives in
`actorbus._observe.prometheus`, imported only when metrics are switched on.
"""

from __future__ import annotations

from typing import Final

import trio

__all__ = ["NULL_METRICS", "EndpointStats", "Metrics", "status_of"]


class EndpointStats:
    """One handler's counters: requests, errors (fault replies), processing time in ns."""

    __slots__ = ("last_error", "num_errors", "num_requests", "processing_ns")

    def __init__(self) -> None:
        self.num_requests = 0
        self.num_errors = 0
        self.processing_ns = 0
        self.last_error = ""

    def record(self, elapsed_ns: int, error: str = "") -> None:
        """One handled call; ``error`` is the fault it answered with, if any."""
        self.num_requests += 1
        self.processing_ns += elapsed_ns
        if error:
            self.num_errors += 1
            self.last_error = error

    @property
    def average_ns(self) -> int:
        return self.processing_ns // self.num_requests if self.num_requests else 0

    def __repr__(self) -> str:
        return (
            f"EndpointStats(requests={self.num_requests}, errors={self.num_errors}, "
            f"average_ms={self.average_ns / 1e6:.3f})"
        )


def status_of(exc: BaseException) -> int:
    """The HTTP-like status a caller saw for ``exc`` (499 when its own scope cancelled)."""
    if isinstance(exc, trio.Cancelled):
        return 499
    status = getattr(exc, "status", 500)
    return status if isinstance(status, int) else 500


class Metrics:
    """The null observer: every hook does nothing. Subclasses set ``enabled`` True."""

    enabled: bool = False

    def served(
        self, host: str, port: int, method: str, path: str, status: int, seconds: float
    ) -> None:
        """A handler of ``host`` finished (sinks included), with its reply's status."""

    def called(
        self, host: str, port: int, method: str, path: str, status: int, seconds: float
    ) -> None:
        """A unicast call to ``host`` finished, as its caller saw it."""

    def fired(self, host: str, path: str) -> None:
        """A multicast (an event, or a call to every replica) went out."""

    def multicast_reply(self, host: str, path: str, status: int) -> None:
        """One responder's reply to a multicast (a sink's reply to an event) arrived."""

    def render(self) -> bytes:
        """The metrics in Prometheus's text format (nothing while metrics are off)."""
        return b""


NULL_METRICS: Final = Metrics()
