"""The tracer page's dependency graph, in real headless Chromium: calls and events drawn as
they are traced, the edges of a cycle of direct calls red, and the cycle named."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from typing import Any

import pytest
import trio
import trio_websocket

from tools.devtools import CHROMIUM, FLAGS, DevTools, devtools_url, drain

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
    with tempfile.TemporaryDirectory(
        prefix="actorbus-chromium-", ignore_cleanup_errors=True
    ) as profile:
        actors = Orders(), Inventory(), billing
        async with tracer_app(plane, *actors) as (app, server), trio.open_nursery() as n:
            proc = await trio.lowlevel.open_process(
                [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                with trio.fail_after(60):
                    browser_url = await devtools_url(proc)
                    assert proc.stderr is not None
                    n.start_soon(drain, proc.stderr)
                    async with trio_websocket.open_websocket_url(
                        browser_url, max_message_size=64 * 2**20
                    ) as ws:
                        cdp = DevTools(ws)
                        target = await cdp.call("Target.createTarget", url="about:blank")
                        attached = await cdp.call(
                            "Target.attachToTarget", targetId=target["targetId"], flatten=True
                        )
                        session = attached["sessionId"]
                        await cdp.call("Page.enable", session)
                        await cdp.call(
                            "Page.navigate", session, url=f"http://127.0.0.1:{server.port}/"
                        )
                        await cdp.wait_event("Page.loadEventFired")
                        assert await cdp.evaluate(session, "window.tracerConnected") is True
                        assert await cdp.evaluate(session, "window.showGraph()") is True
                        await server.wait_clients(1)
                        await app.hub.tracer.wait_listening()
                        assert await app.client(Orders).order(item="pen") == 3
                        await billing.billed.wait()
                        # orders, inventory (x2: from orders and from billing), price, the
                        # event to billing, and the App's call: at least 12 spans, both sides
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
                        await cdp.call("Browser.close")
            finally:
                with trio.move_on_after(10) as cleanup:
                    cleanup.shield = True
                    if proc.returncode is None:
                        proc.terminate()
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                n.cancel_scope.cancel()
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
