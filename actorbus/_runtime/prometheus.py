"""The Prometheus observer: request counters and latency histograms per route and status,
events fired, multicast replies, plus values read at scrape time (handlers in flight, the
integer counters of every actor's ``stats``, the transport's statistics).

Imported only when metrics are switched on (``App(metrics=True)``, ``actorbus run --metrics``):
``prometheus-client`` is an optional dependency (the ``actorbus[metrics]`` extra). Label
children are cached per label tuple, so a call costs two dict lookups and two updates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .metrics import Metrics
from .shapes import ActorShape

if TYPE_CHECKING:
    from .._transport.base import Transport

__all__ = ["BUCKETS", "TRANSPORT_COUNTERS", "PrometheusMetrics"]

#: Latency buckets in seconds: a co-located call takes ~25 µs, one over NATS ~0.5 ms.
BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

#: Keys of ``Transport.statistics()`` exported as counters, and their metric names.
TRANSPORT_COUNTERS: Final = {
    "reconnects": ("actorbus_nats_reconnects", "Reconnections to the NATS server"),
    "in_bytes": ("actorbus_nats_bytes_in", "Payload bytes received from NATS"),
    "out_bytes": ("actorbus_nats_bytes_out", "Payload bytes sent to NATS"),
    "in_msgs": ("actorbus_nats_messages_in", "Messages received from NATS"),
    "out_msgs": ("actorbus_nats_messages_out", "Messages sent to NATS"),
}

_ROUTE: Final = ("side", "host", "port", "method", "path", "status")


class PrometheusMetrics(Metrics):
    """Per-App Prometheus registry; `render` gives the text exposition format."""

    enabled = True

    def __init__(
        self, actors: Callable[[], Sequence[ActorShape]], transport: Transport | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "actorbus_requests",
            "Requests by side (handler: served here; caller: made from here), route and status",
            _ROUTE,
            registry=self.registry,
        )
        self._durations = Histogram(
            "actorbus_request_duration_seconds",
            "Request duration by side, route and status",
            _ROUTE,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._fired = Counter(
            "actorbus_events_fired",
            "Multicasts sent (events, and calls to every replica) by target host and path",
            ("host", "path"),
            registry=self.registry,
        )
        self._replies = Counter(
            "actorbus_sink_replies",
            "Replies received to multicasts (sink replies to events) by host, path and status",
            ("host", "path", "status"),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int, str, str, int], tuple[Any, Any]] = {}
        self._fired_children: dict[tuple[str, str], Any] = {}
        self._reply_children: dict[tuple[str, str, int], Any] = {}
        self.registry.register(_ScrapeTime(actors, transport))

    def _route(
        self, side: str, host: str, port: int, method: str, path: str, status: int
    ) -> tuple[Any, Any]:
        key = (side, host, port, method, path, status)
        children = self._children.get(key)
        if children is None:
            labels = (side, host, str(port), method, path, str(status))
            children = (self._requests.labels(*labels), self._durations.labels(*labels))
            self._children[key] = children
        return children

    def served(
        self, host: str, port: int, method: str, path: str, status: int, seconds: float
    ) -> None:
        count, duration = self._route("handler", host, port, method, path, status)
        count.inc()
        duration.observe(seconds)

    def called(
        self, host: str, port: int, method: str, path: str, status: int, seconds: float
    ) -> None:
        count, duration = self._route("caller", host, port, method, path, status)
        count.inc()
        duration.observe(seconds)

    def fired(self, host: str, path: str) -> None:
        child = self._fired_children.get((host, path))
        if child is None:
            child = self._fired_children[(host, path)] = self._fired.labels(host, path)
        child.inc()

    def multicast_reply(self, host: str, path: str, status: int) -> None:
        key = (host, path, status)
        child = self._reply_children.get(key)
        if child is None:
            child = self._reply_children[key] = self._replies.labels(host, path, str(status))
        child.inc()

    def render(self) -> bytes:
        """The current values in Prometheus's text format."""
        return generate_latest(self.registry)


class _ScrapeTime(Collector):
    """Values read when Prometheus scrapes, so the hot path never updates them."""

    def __init__(self, actors: Callable[[], Sequence[ActorShape]], transport: Transport | None):
        self._actors = actors
        self._transport = transport

    def collect(self) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            "actorbus_handlers_in_flight",
            "Handlers running now (concurrency in use) per actor instance",
            labels=("host", "instance"),
        )
        counters: dict[str, CounterMetricFamily] = {}
        for actor in self._actors():
            host, instance = actor.host(), actor.instance
            where = actor._placement
            if where is not None:
                in_flight.add_metric((host, instance), where.in_flight())
            for name, value in _stat_counters(actor.stats):
                if isinstance(value, int):
                    family = _family(counters, name, ("host", "instance"))
                    family.add_metric((host, instance), value)
                else:
                    family = _family(counters, name, ("host", "instance", "name"))
                    for key, count in value.items():
                        family.add_metric((host, instance, key), count)
        yield in_flight
        yield from counters.values()
        yield from self._transport_counters()

    def _transport_counters(self) -> Iterator[Metric]:
        statistics = getattr(self._transport, "statistics", None)
        if not callable(statistics):
            return
        stats = statistics()
        for key, (name, doc) in TRANSPORT_COUNTERS.items():
            value = stats.get(key)
            if isinstance(value, int):
                yield CounterMetricFamily(name, doc, value=value)


def _stat_counters(stats: object) -> Iterator[tuple[str, int | dict[str, int]]]:
    """The integer counters of an actor's ``stats`` (ints, and dicts of ints by name)."""
    if not dataclasses.is_dataclass(stats):
        return
    for f in dataclasses.fields(stats):
        value = getattr(stats, f.name)
        if _is_count(value) or (
            isinstance(value, dict) and value and all(map(_is_count, value.values()))
        ):
            yield f.name, value


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _family(
    families: dict[str, CounterMetricFamily], name: str, labels: tuple[str, ...]
) -> CounterMetricFamily:
    family = families.get(name)
    if family is None:
        family = CounterMetricFamily(
            f"actorbus_actor_{name}", f"Actor counter stats.{name}", labels=labels
        )
        families[name] = family
    return family
