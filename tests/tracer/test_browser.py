"""The tracer page in real headless Chromium (Debian's ``chromium``), driven over DevTools."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
from typing import Any

import pytest
import trio
import trio_websocket

from .actors import Back, Front
from .wsutil import spans, tracer_app, ws_client

CHROMIUM = os.environ.get("ACTORBUS_CHROMIUM", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)",
    ),
]

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


async def _devtools_url(proc: trio.Process) -> str:
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


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    while await stream.receive_some(65536):
        pass


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
                    browser_url = await _devtools_url(proc)
                    assert proc.stderr is not None
                    n.start_soon(_drain, proc.stderr)
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
