"""The caller a request names is the one nats-server let publish it: no actor can call in
another's name, and ``callers=`` is enforced by the server as well as by the runtime."""

from __future__ import annotations

import pytest
import trio

from actorbus import App, Forbidden
from actorbus._app import open_bus, random_plane
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects

from .actors import Sink, Source
from .conftest import Refusals, SecureBus

pytestmark = pytest.mark.nats


def _request(path: str, from_host: str) -> bytes:
    return _frames.encode(
        _frames.Request(
            msg_id="forged1",
            from_host=from_host,
            from_instance="abc123",
            host="source.sec",
            port=443,
            method="POST",
            path=path,
            depth=1,
            budget_ms=5000,
            oneway=True,
        )
    )


async def test_a_request_in_another_callers_name_is_refused(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    plane = random_plane()
    with trio.fail_after(30):
        async with App(
            Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ) as app:
            # the legitimate caller is what the handler sees
            assert await app.client(Sink).ask_caller() == "sink.sec"
            assert await app.client(Source).caller() == "app.actorbus"
            other, edge = secure_bus.creds.for_host("other.sec"), secure_bus.creds.edge
            assert other is not None and edge is not None
            for who in (other, edge):
                async with open_bus(secure_bus.url, who) as forger:
                    subject = _subjects.request_subject(
                        plane, 443, "source.sec", "POST", "/private", source="sink.sec"
                    )
                    forger.publish(subject, _request("/private", "sink.sec"))
                    text = await refusals.wait_for(subject, repr(who.name))
                    assert "publish" in text.lower()


async def test_callers_are_enforced_by_the_server(
    secure_bus: SecureBus, refusals: Refusals
) -> None:
    plane = random_plane()
    source = Source()
    with trio.fail_after(30):
        async with App(
            source, Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ) as app:
            assert await app.client(Sink).ask_private() == "for sink.sec only"
            # the App's edge is not listed: nats-server refuses its request, and the call
            # says so at once rather than wait out its ack window
            with pytest.raises(Forbidden, match="refused to let this connection publish"):
                await app.client(Source).private()
            other = secure_bus.creds.for_host("other.sec")
            assert other is not None
            async with open_bus(secure_bus.url, other) as outsider:
                subject = _subjects.request_subject(
                    plane, 443, "source.sec", "POST", "/private", source="other.sec"
                )
                outsider.publish(subject, _request("/private", "other.sec"))
                text = await refusals.wait_for(subject, "'other.sec'")
                assert "publish" in text.lower()
                # the same actor may still call what it is not kept from
                allowed = _subjects.request_subject(
                    plane, 443, "source.sec", "POST", "/echo", source="other.sec"
                )
                outsider.publish(allowed, _request("/echo", "other.sec"))
                await outsider.flush()
            assert await app.client(Source).echo(text="after") == "after"
    assert source.stats.wire.get("forbidden", 0) == 0  # the server refused: nothing arrived
    assert not any(allowed in text for text in refusals.texts())
