"""The ingress in this process, on the memory bus: the HTTP hop in the trace, the budget cap
from the App's ``max_budget``, and the options' one-line refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio

from actorbus import App, MemoryBus
from actorbus._ingress import Ingress, IngressOptions, OptionsError
from actorbus._ingress.server import serve_asgi
from actorbus._runtime.spans import Span

from .web_actors import Shop


@asynccontextmanager
async def ingress(
    app: App, options: IngressOptions | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    options = options or IngressOptions()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_asgi, Ingress(app, options), "127.0.0.1", 0, options)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
        nursery.cancel_scope.cancel()


class Collect:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    def export(self, span: Span) -> None:
        self.spans.append(span)


async def test_the_http_hop_is_a_span_of_the_callers_trace(plane: str) -> None:
    async with App(Shop(), bus="memory", plane=plane) as app, ingress(app) as client:
        sink = Collect()
        app.hub.tracer.set_sink(sink)
        trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        r = await client.get(
            "/shop.example/sum?a=1&b=2", headers={"traceparent": f"00-{trace}-{parent}-01"}
        )
        assert r.json() == 3
        hop_id = r.headers["traceparent"].split("-")[2]
        (hop,) = [s for s in sink.spans if s.span_id == hop_id]
        assert (hop.trace_id, hop.parent_id, hop.from_host) == (trace, parent, "http")
        assert (hop.method, hop.path, hop.status) == ("GET", "/shop.example/sum", 200)
        # The bus call the hop made is its child, in the same trace.
        children = [s for s in sink.spans if s.parent_id == hop_id]
        assert children and {s.trace_id for s in children} == {trace}
        assert ("shop.example", "/sum") in {(s.to_host, s.path) for s in children}


async def test_the_budget_is_capped_by_max_budget(plane: str) -> None:
    async with App(Shop(), bus="memory", plane=plane, max_budget=0.5) as app, ingress(app) as c:
        with trio.fail_after(10):  # the header asks for 30 s; the App allows 0.5 s
            r = await c.post(
                "/shop.example/slow", json={"seconds": 20}, headers={"Request-Timeout": "30"}
            )
        assert r.status_code == 408 and r.json()["error"]["type"] == "TimeBudgetExceeded"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"ports": frozenset({443, 888})}, "888"),
        ({"ports": frozenset({70000})}, "70000"),
        ({"cors": ("app.example",)}, "expected an origin"),
        ({"max_concurrent": 0}, "max-concurrent"),
    ],
)
def test_bad_options_are_one_line(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(OptionsError, match=problem) as info:
        IngressOptions(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


async def test_arguments_that_cannot_travel_are_400(plane: str) -> None:
    async with App(Shop(), bus="memory", plane=plane) as app, ingress(app) as c:
        r = await c.get("/shop.example/sum", params={"a": "9" * 30})
        assert r.status_code == 400 and r.json()["error"]["type"] == "BadRequest"
        r = await c.post("/shop.example/echo", content=b'{"text": 123456789012345678901234567890}')
        assert r.status_code == 400


async def test_large_bodies_cross_the_bus_in_pieces_with_the_same_limit(plane: str) -> None:
    bus = MemoryBus(max_payload=64 * 1024)  # the body crosses the bus, in pieces
    async with (
        App(Shop(), bus=bus, plane=plane),
        App(bus=bus, plane=plane, max_body=1_000_000) as edge,
        ingress(edge) as client,  # its own limit is larger: the bus's limit refuses
    ):
        text = "t" * 600_000
        r = await client.post("/shop.example/echo", json={"text": text})
        assert r.status_code == 200 and r.json() == text
        r = await client.post("/shop.example/echo", json={"text": "t" * 1_100_000})
        assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLarge"
        assert "over the limit of 1000000" in r.json()["error"]["message"]


def test_the_ingress_default_body_limit_is_the_bus_default() -> None:
    assert IngressOptions().max_body == App().options.max_body == 32 * 1024 * 1024
