"""Screenshot of the live tracer's browser waterfall, from a real run (for the README).

    python -m tools.tracer_screenshot [docs/tracer-waterfall.png]

Starts an embedded nats-server, the events example's actors and the live tracer on it, opens
the tracer page in headless Chromium (``ACTORBUS_CHROMIUM``, default /usr/bin/chromium), makes a
few calls, waits until the page has drawn their spans, and saves a PNG through DevTools.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio
import trio_websocket

from actorbus import App
from actorbus._tracer.server import TracerServer
from actorbus._transport.embedded import open_embedded
from examples.events.sinks import CreditCards, Files, Groups
from examples.events.users import Users

CHROMIUM = os.environ.get("ACTORBUS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
WIDTH, HEIGHT = 1280, 720


class DevTools:
    """Just enough of the Chrome DevTools Protocol: commands by id, events kept aside."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await self.ws.send_message(json.dumps(msg))
        while True:
            reply = json.loads(await self.ws.get_message())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    async def wait_event(self, method: str) -> None:
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    self.events.pop(i)
                    return
            self.events.append(json.loads(await self.ws.get_message()))

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", session, expression=expression, awaitPromise=True,
            returnByValue=True,
        )  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


async def _devtools_url(proc: trio.Process) -> str:
    assert proc.stderr is not None
    seen = b""
    while chunk := await proc.stderr.receive_some(4096):
        seen += chunk
        found = re.search(rb"DevTools listening on (ws://\S+)", seen)
        if found:
            return found.group(1).decode()
    raise RuntimeError(f"chromium exited early: {seen.decode(errors='replace')}")


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    while await stream.receive_some(65536):
        pass


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
    browser_url = await _devtools_url(proc)
    assert proc.stderr is not None
    n.start_soon(_drain, proc.stderr)
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
        await app.hub.tracer.wait_listening()
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
