"""A page an actor serves with `HttpResponse`, loaded through the ingress in headless Chromium
(Debian's ``chromium``): its script fetch()es an endpoint and shows the answer."""

from __future__ import annotations

import os

import pytest
import trio

from tools.devtools import CHROMIUM, open_page

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
    async with served(nats_url, plane) as s:
        with trio.fail_after(60):
            async with open_page(f"{s.url}/shop.example/page") as (cdp, session):
                shown = await cdp.evaluate(
                    session,
                    "window.answered.then(() => document.getElementById('answer').textContent)",
                )
    assert shown == "sum is 42"
