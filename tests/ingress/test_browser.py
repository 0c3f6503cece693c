"""A page an actor serves with `HttpResponse`, loaded through the ingress in headless Chromium
(Debian's ``chromium``): its script fetch()es an endpoint and shows the answer."""

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

from .conftest import served

pytestmark = [
    pytest.mark.nats,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)",
    ),
]


async def test_a_served_page_fetches_an_endpoint(nats_url: str, plane: str) -> None:
    with tempfile.TemporaryDirectory(
        prefix="actorbus-chromium-", ignore_cleanup_errors=True
    ) as profile:
        async with served(nats_url, plane) as s, trio.open_nursery() as n:
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
                        await cdp.call("Page.navigate", session, url=f"{s.url}/shop.example/page")
                        await cdp.wait_event("Page.loadEventFired")
                        shown = await cdp.evaluate(
                            session,
                            "window.answered.then("
                            "() => document.getElementById('answer').textContent)",
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
    assert shown == "sum is 42"
