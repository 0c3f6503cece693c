"""What the parts an actor is built from read of it, as narrow Protocols.

The server, the control plane, the actor's description, the proxies and the API check depend
on these, never on `Actor`, which builds them: no import goes back up to ``actor.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .._observe.metrics import EndpointStats
from .declarations import HandlerSpec, TickerSpec

__all__ = ["ActorShape", "ActorStats", "Declares", "Placement"]


@dataclass
class ActorStats:
    """Counters an actor keeps about itself (read-only for users)."""

    ticks: dict[str, int] = field(default_factory=dict)
    tick_skips: dict[str, int] = field(default_factory=dict)
    tick_errors: dict[str, int] = field(default_factory=dict)
    #: Beats of a singleton ticker left to the replica that holds its lease.
    tick_standby: dict[str, int] = field(default_factory=dict)
    #: Frames refused or dropped, by kind: malformed, mismatch, forbidden, duplicate,
    #: unauthenticated, unmatched, overloaded, dropped, internal (see "Hostile input" in the
    #: reliability docs).
    wire: dict[str, int] = field(default_factory=dict)
    #: Per handler (by qualified name): requests, errors, processing time ($SRV.STATS).
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)


@dataclass(frozen=True)
class Placement:
    """Where a running actor instance is: its bus, its plane, and how many calls its server
    holds now (running or waiting at their bound)."""

    bus: str
    plane: str
    in_flight: Callable[[], int]


class Declares(Protocol):
    """A class that declares endpoints: an actor class or an API class."""

    _handlers: ClassVar[tuple[HandlerSpec, ...]]
    _endpoints: ClassVar[dict[str, HandlerSpec]]

    @classmethod
    def host(cls) -> str: ...


class ActorShape(Protocol):
    """An actor instance as the parts built around it see it; ``_placement`` is None unless
    it runs."""

    instance: str
    stats: ActorStats
    _placement: Placement | None
    version: ClassVar[str]
    _handlers: ClassVar[tuple[HandlerSpec, ...]]
    _tickers: ClassVar[tuple[TickerSpec, ...]]
    _configs: ClassVar[dict[str, Any]]
    _callers: ClassVar[frozenset[str] | None]

    @classmethod
    def host(cls) -> str: ...

    @property
    def uptime(self) -> float: ...
