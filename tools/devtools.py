"""Headless Chromium driven over the DevTools protocol: shared by the tracer's browser test and
``tools.tracer_screenshot`` (Debian's ``chromium``; ``ACTORBUS_CHROMIUM`` overrides the path)."""

from __future__ import annotations

import itertools
import json
import os
import re
from typing import Any

import trio
import trio_websocket

__all__ = ["CHROMIUM", "FLAGS", "DevTools", "devtools_url", "drain"]

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
