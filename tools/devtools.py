"""Headless Chromium driven over the DevTools protocol: shared by the browser tests
(`open_page`) and ``tools.tracer_screenshot`` (Debian's ``chromium``; ``ACTORBUS_CHROMIUM``
overrides the path)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import trio
import trio_websocket

__all__ = ["CHROMIUM", "FLAGS", "DevTools", "devtools_url", "drain", "open_page"]

CHROMIUM = os.environ.get("ACTORBUS_CHROMIUM", "/usr/bin/chromium")
#: Headless, no sandbox (root in CI), and nothing that reaches for the network.
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
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class DevTools:
    """A minimal Chrome DevTools Protocol client: commands by id, events on request."""

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

    async def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(json.loads(await self.ws.get_message()))

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


async def devtools_url(proc: trio.Process) -> str:
    assert proc.stderr is not None
    seen = b""
    while True:
        chunk = await proc.stderr.receive_some(4096)
        if not chunk:
            raise RuntimeError(f"chromium exited early: {seen.decode(errors='replace')}")
        seen += chunk
        found = re.search(rb"DevTools listening on (ws://\S+)", seen)
        if found:
            return found.group(1).decode()


async def drain(stream: trio.abc.ReceiveStream) -> None:
    while await stream.receive_some(65536):
        pass


@contextlib.asynccontextmanager
async def open_page(url: str) -> AsyncIterator[tuple[DevTools, str]]:
    """Headless Chromium with ``url`` loaded: (DevTools, session). Chromium and its helper
    processes are gone when the block ends, whatever happened in it."""
    # Chromium's helpers may still write to the profile as it exits: don't let the temporary
    # directory's cleanup race them into a failure.
    with tempfile.TemporaryDirectory(
        prefix="actorbus-chromium-", ignore_cleanup_errors=True
    ) as profile:
        async with trio.open_nursery() as nursery:
            proc = await trio.lowlevel.open_process(
                [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its helpers share the group: killed with it below
            )
            try:
                browser_url = await devtools_url(proc)
                assert proc.stderr is not None
                nursery.start_soon(drain, proc.stderr)
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
                    await cdp.call("Page.navigate", session, url=url)
                    await cdp.wait_event("Page.loadEventFired")
                    yield cdp, session
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
                nursery.cancel_scope.cancel()
