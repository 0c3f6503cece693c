"""The tracer page in real headless Chromium (Debian's ``chromium``), driven over DevTools."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile

import pytest
import trio
import trio_websocket

from tools.devtools import CHROMIUM, FLAGS, DevTools, devtools_url, drain

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
    # Chromium's helper processes may still write to the profile as it exits: don't let the
    # temporary directory's cleanup race them into a failure.
    with tempfile.TemporaryDirectory(
        prefix="actorbus-chromium-", ignore_cleanup_errors=True
    ) as profile:
        async with tracer_app(plane, Back(), Front()) as (app, server), trio.open_nursery() as n:
            proc = await trio.lowlevel.open_process(
                [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its helpers share the group: killed with it below
            )
            try:
                with trio.fail_after(60):
                    browser_url = await devtools_url(proc)
                    assert proc.stderr is not None
                    n.start_soon(drain, proc.stderr)
                    async with (
                        trio_websocket.open_websocket_url(
                            browser_url, max_message_size=64 * 2**20
                        ) as ws,
                        ws_client(server, app) as watcher,
                    ):
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
                        traces = await cdp.evaluate(
                            session, "document.querySelectorAll('.trace').length"
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
                    os.killpg(proc.pid, signal.SIGKILL)  # leftover helper processes
                n.cancel_scope.cancel()
    assert traces == 2
    assert sorted((r[0], r[1]) for r in rows) == sorted((s["span_id"], s["side"]) for s in sent)
    errors = [r for r in rows if "error" in r[2].split()]
    assert len(errors) == 4
    assert len({r[3] for r in errors}) == 1
