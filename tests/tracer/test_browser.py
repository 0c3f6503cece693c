"""The tracer page in real headless Chromium (Debian's ``chromium``), driven over DevTools."""

from __future__ import annotations

import os

import pytest
import trio

from tools.devtools import CHROMIUM, open_page

from .actors import Back, Front
from .wsutil import spans, tracer_app, ws_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)",
    ),
]


async def test_the_page_draws_live_spans(plane: str) -> None:
    async with tracer_app(plane, Back(), Front()) as (app, server):
        with trio.fail_after(60):
            async with (
                open_page(f"http://127.0.0.1:{server.port}/") as (cdp, session),
                ws_client(server, app) as watcher,
            ):
                assert await cdp.evaluate(session, "window.tracerConnected") is True
                await server.wait_clients(2)
                assert await app.client(Front).quad(n=1) == 4
                with pytest.raises(Exception, match="teapot"):
                    await app.client(Front).fails()
                sent = await spans(watcher, 10)
                assert await cdp.evaluate(session, "window.waitForSpans(10)") >= 10
                rows = await cdp.evaluate(
                    session,
                    "[...document.querySelectorAll('.span')].map(e =>"
                    " [e.dataset.spanId, e.dataset.side, e.className,"
                    "  e.closest('.trace').dataset.traceId])",
                )
                traces = await cdp.evaluate(session, "document.querySelectorAll('.trace').length")
    assert traces == 2
    assert sorted((r[0], r[1]) for r in rows) == sorted((s["span_id"], s["side"]) for s in sent)
    errors = [r for r in rows if "error" in r[2].split()]
    assert len(errors) == 4
    assert len({r[3] for r in errors}) == 1
