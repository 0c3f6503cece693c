"""Screenshot of the live tracer's browser waterfall, from a real run (for the README).

    python -m tools.tracer_screenshot [docs/tracer-waterfall.png]

Starts an embedded nats-server, the events example's actors and the live tracer on it, opens
the tracer page in headless Chromium (``ACTORBUS_CHROMIUM``, default /usr/bin/chromium), makes a
few calls, waits until the page has drawn their spans, and saves a PNG through DevTools.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import trio
import trio_websocket

from actorbus import App
from actorbus._tracer.websocket import TracerServer
from actorbus._transport.embedded import open_embedded
from examples.events.sinks import CreditCards, Files, Groups
from examples.events.users import Users

from .devtools import CHROMIUM, DevTools, devtools_url, drain
from .devtools import FLAGS as CHROMIUM_FLAGS

FLAGS = [*CHROMIUM_FLAGS, "--hide-scrollbars"]
WIDTH, HEIGHT = 1280, 720


async def _calls(app: App) -> int:
    """A few calls with events and sinks (one vetoed): returns how many spans they make."""
    users = app.client(Users)
    await users.register(email="ann@example.com")  # 2 + allow (1 sink) 2 + registered (2) 4
    await users.register(email="bob@mailinator.com")  # vetoed by Groups: 2 + 2
    await users.delete_user(user_id="u1")  # 2 + three sinks 6
    return 20


async def screenshot(out: Path) -> None:
    plane = "shot"
    async with open_embedded() as nats:
        actors = (Users(), Files(), CreditCards(), Groups())
        async with App(*actors, bus=nats.url, plane=plane) as app, trio.open_nursery() as n:
            tracer = TracerServer(app.transport, plane)
            await n.start(tracer.serve, "127.0.0.1", 0)
            with tempfile.TemporaryDirectory(
                prefix="actorbus-shot-", ignore_cleanup_errors=True
            ) as profile:
                proc = await trio.lowlevel.open_process(
                    [CHROMIUM, *FLAGS, f"--window-size={WIDTH},{HEIGHT}",
                     f"--user-data-dir={profile}", "about:blank"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, start_new_session=True,
                )  # fmt: skip
                try:
                    with trio.fail_after(60):
                        png = await _drive(proc, app, tracer, n)
                finally:
                    with trio.move_on_after(10) as cleanup:
                        cleanup.shield = True
                        if proc.returncode is None:
                            proc.terminate()
                        await proc.wait()
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
            n.cancel_scope.cancel()
    await trio.Path(out).write_bytes(png)
    print(f"wrote {out} ({len(png)} bytes)")


async def _drive(proc: trio.Process, app: App, tracer: TracerServer, n: trio.Nursery) -> bytes:
    browser_url = await devtools_url(proc)
    assert proc.stderr is not None
    n.start_soon(drain, proc.stderr)
    async with trio_websocket.open_websocket_url(browser_url, max_message_size=64 * 2**20) as ws:
        cdp = DevTools(ws)
        target = await cdp.call("Target.createTarget", url="about:blank")
        attached = await cdp.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        session = attached["sessionId"]
        await cdp.call(
            "Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=HEIGHT,
            deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        await cdp.call("Page.enable", session)
        await cdp.call("Page.navigate", session, url=f"http://127.0.0.1:{tracer.port}/")
        await cdp.wait_event("Page.loadEventFired")
        await cdp.evaluate(session, "window.tracerConnected")
        await app.hub.spans.wait_listening()
        spans = await _calls(app)
        await cdp.evaluate(session, f"window.waitForSpans({spans})")
        shot = await cdp.call("Page.captureScreenshot", session, format="png")
        await cdp.call("Browser.close")
    return base64.b64decode(shot["data"])


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/tracer-waterfall.png")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"tracer_screenshot: {CHROMIUM} is missing (apt-get install chromium)")
    trio.run(screenshot, out)


if __name__ == "__main__":
    main()
