"""The tracer page's dependency graph, in real headless Chromium: calls and events drawn as
they are traced, the edges of a cycle of direct calls red, and the cycle named."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio

from tools.devtools import CHROMIUM, open_page

from ..cli.graph_actors import Billing, Inventory, Orders
from .wsutil import tracer_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)",
    ),
]

EDGES = (
    "[...document.querySelectorAll('#graph-edges path')]"
    ".map(e => [e.dataset.from, e.dataset.to, e.getAttribute('class')])"
)


async def test_the_page_draws_the_dependency_graph(plane: str) -> None:
    billing = Billing()
    got: dict[str, Any] = {}
    actors = Orders(), Inventory(), billing
    async with tracer_app(plane, *actors) as (app, server):
        with trio.fail_after(60):
            async with open_page(f"http://127.0.0.1:{server.port}/") as (cdp, session):
                assert await cdp.evaluate(session, "window.tracerConnected") is True
                assert await cdp.evaluate(session, "window.showGraph()") is True
                await server.wait_clients(1)
                await app.hub.spans.wait_listening()
                assert await app.client(Orders).order(item="pen") == 3
                await billing.billed.wait()
                # orders, inventory (x2: from orders and from billing), price, the event to
                # billing, and the App's call: at least 12 spans, both sides
                await cdp.evaluate(session, "window.waitForSpans(12)")
                await cdp.evaluate(
                    session, "new Promise(r => requestAnimationFrame(() => r(true)))"
                )
                got["graph"] = await cdp.evaluate(session, "window.tracerGraph()")
                got["paths"] = await cdp.evaluate(session, EDGES)
                got["text"] = await cdp.evaluate(
                    session, "document.getElementById('graph-cycles').textContent"
                )
                got["nodes"] = await cdp.evaluate(
                    session, "document.querySelectorAll('#graph-nodes .node').length"
                )
    cycle = ["inventory.graph-test", "orders.graph-test"]
    assert got["graph"]["cycles"] == [cycle]
    assert got["text"] == "cycle of direct calls: inventory.graph-test → orders.graph-test → " + (
        "inventory.graph-test"
    )
    paths = {(a, b): cls for a, b, cls in got["paths"]}
    assert paths[("orders.graph-test", "inventory.graph-test")] == "edge call cycle"
    assert paths[("inventory.graph-test", "orders.graph-test")] == "edge call cycle"
    assert paths[("billing.graph-test", "inventory.graph-test")] == "edge call"
    assert paths[("orders.graph-test", "billing.graph-test")] == "edge event"
    assert paths[("app.actorbus", "orders.graph-test")] == "edge call"
    assert got["nodes"] == 4
