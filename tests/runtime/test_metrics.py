"""Prometheus metrics kept by an App: what the handler and caller sides count, read back by
parsing the exposition text as Prometheus would."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from actorbus import Actor, App, HTTPError, RemoteError, endpoint, event, sink
from actorbus._observe.metrics import NULL_METRICS
from actorbus._observe.prometheus import PrometheusMetrics


class Source(Actor):
    hostname = "source.metrics.test"

    @event
    async def on_thing(self, n: int) -> int: ...  # type: ignore[empty-body]

    @endpoint
    async def shout(self, n: int) -> int:
        total = 0
        async for reply in self.on_thing(n=n):
            total += reply.value if reply.ok else 0
        return total

    @endpoint
    async def refuse(self) -> None:
        raise HTTPError(409, "no")


class Sink(Actor):
    hostname = "sink.metrics.test"
    release: trio.Event
    entered: trio.Event

    @sink(Source.on_thing)
    async def got(self, n: int) -> int:
        return n + 1

    @endpoint
    async def hold(self) -> bool:
        self.entered.set()
        await self.release.wait()
        return True


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], metric: str, **labels: Any
) -> float:
    want = {k: str(v) for k, v in labels.items()}
    hits = [v for (n, ls), v in found.items() if n == metric and want.items() <= dict(ls).items()]
    assert hits, (metric, labels)
    return sum(hits)


async def test_metrics_count_both_sides(plane: str) -> None:
    s = Sink()
    s.release, s.entered = trio.Event(), trio.Event()
    async with App(Source(), s, plane=plane, metrics=True) as app:
        assert isinstance(app.metrics, PrometheusMetrics)
        with trio.fail_after(10):
            for n in range(3):
                assert await app.client(Source).shout(n=n) == n + 1
            with pytest.raises(RemoteError):
                await app.client(Source).refuse()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(app.client(Sink).hold)
                await s.entered.wait()
                during = samples(app.metrics.render())
                s.release.set()
        after = samples(app.metrics.render())
    route = dict(host="source.metrics.test", port=443, method="POST")
    assert value(after, "actorbus_requests_total", side="handler", path="/shout", **route) == 3
    assert value(after, "actorbus_requests_total", side="caller", path="/shout", **route) == 3
    assert (
        value(after, "actorbus_request_duration_seconds_count", side="handler", path="/shout") == 3
    )
    assert value(after, "actorbus_requests_total", side="handler", path="/refuse", status=409) == 1
    assert value(after, "actorbus_requests_total", side="caller", path="/refuse", status=409) == 1
    assert value(after, "actorbus_requests_total", side="handler", port=417, status=200) == 3
    assert value(after, "actorbus_events_fired_total", host="source.metrics.test") == 3
    assert value(after, "actorbus_sink_replies_total", path="/on-thing", status=200) == 3
    assert value(during, "actorbus_handlers_in_flight", host="sink.metrics.test") == 1
    assert value(after, "actorbus_handlers_in_flight", host="sink.metrics.test") == 0


def test_scrape_reads_actor_stats_and_transport_statistics() -> None:
    class Transport:
        def statistics(self) -> dict[str, int]:
            return {"reconnects": 2, "in_bytes": 100, "out_bytes": 50, "in_msgs": 4, "out_msgs": 3}

    actor = Source()
    actor.stats.tick_errors["sweep"] = 5
    metrics = PrometheusMetrics(lambda: [actor], Transport())  # type: ignore[arg-type]
    found = samples(metrics.render())
    assert value(found, "actorbus_actor_tick_errors_total", name="sweep") == 5
    assert value(found, "actorbus_nats_reconnects_total") == 2
    assert value(found, "actorbus_nats_bytes_in_total") == 100
    assert value(found, "actorbus_nats_bytes_out_total") == 50


async def test_metrics_are_off_by_default(plane: str) -> None:
    async with App(Source(), plane=plane) as app:
        assert app.metrics is NULL_METRICS and app.hub.metrics is NULL_METRICS
        assert not app.hub.metrics.enabled and app.metrics.render() == b""


def test_import_actorbus_loads_no_optional_observability_package() -> None:
    code = "import json, sys\nimport actorbus\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    loaded = {m.split(".")[0] for m in json.loads(out)}
    assert "actorbus" in loaded
    assert not loaded & {"prometheus_client", "opentelemetry"}
