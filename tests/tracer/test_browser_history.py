"""The tracer page remembers and folds (issue 25), in real headless Chromium: calls made before
the page was opened appear, a control-plane call is folded until asked for, and the
"errors only" box sits next to its label."""

from __future__ import annotations

import os

import msgspec
import pytest
import trio
import trio.testing

from actorbus import App
from actorbus._tracer.websocket import TracerServer
from actorbus._transport.memory import MemoryBus
from actorbus._wire.frames import EMPTY_BODY
from tools.devtools import CHROMIUM, open_page

from .actors import Back, Front

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)",
    ),
]


async def test_the_page_shows_earlier_calls_and_folds_the_control_plane(plane: str) -> None:
    bus = MemoryBus()
    async with App(Back(), Front(), bus=bus, plane=plane) as app, trio.open_nursery() as n:
        server = TracerServer(bus.connect(), plane, history=100)
        await n.start(server.serve, "127.0.0.1", 0)
        with trio.fail_after(60):
            await app.hub.spans.wait_listening()
            await app.caller.call(
                "back.test", 888, "GET", "/ping", EMPTY_BODY, msgspec.msgpack.decode
            )
            assert await app.client(Front).quad(n=1) == 4  # before any page is open
            while server.statistics().spans_received < 8:  # ping 2, quad and its 2 calls 6
                await trio.testing.wait_all_tasks_blocked(cushion=0.01)  # spans are batched
            received = server.statistics().spans_received
            async with open_page(f"http://127.0.0.1:{server.port}/") as (cdp, session):
                assert await cdp.evaluate(session, "window.tracerConnected") is True
                assert await cdp.evaluate(session, f"window.waitForSpans({received})") >= received
                shown = (
                    "[...document.querySelectorAll('.trace')].map(t =>"
                    " [t.querySelector('.trace-head b').textContent, t.offsetParent !== null])"
                )
                before = await cdp.evaluate(session, shown)
                gap = await cdp.evaluate(
                    session,
                    "(() => { const box = document.getElementById('f-errors');"
                    " const r = document.createRange();"
                    " r.selectNodeContents(box.parentElement); r.setStartAfter(box);"
                    " const b = box.getBoundingClientRect();"
                    " return [r.getBoundingClientRect().left - b.right, b.width];"
                    " })()",
                )
                await cdp.evaluate(session, "document.getElementById('f-background').click()")
                after = await cdp.evaluate(session, shown)
        n.cancel_scope.cancel()
    assert sorted(before) == [
        ["app.actorbus → back.test/ping", False],  # folded away
        ["app.actorbus → front.test/quad", True],
    ]
    assert all(visible for _, visible in after)
    space, width = gap  # the box is drawn centred in its own width
    assert 0 <= space < 12 and width < 30, f"the errors-only box is {width} px wide, then {space}"
