"""Tracer control is the edge's: under the generated ACL an actor's identity cannot switch
tracing on (nats-server refuses the publish), yet every hub may still ask who traces."""

from __future__ import annotations

import pytest
import trio

from actorbus import App
from actorbus._app import open_bus, random_plane
from actorbus._cli.acl import derive_permissions
from actorbus._observe import spans as _spans

from .actors import Other, Sink, Source
from .conftest import Refusals, SecureBus

pytestmark = pytest.mark.nats


def test_only_the_edge_may_publish_tracer_control() -> None:
    perms, edge = derive_permissions([Source, Sink, Other], "p")
    for host, perm in perms.items():
        assert "p.trace-ctl" not in perm.publish, host
        assert "p.trace-ctl.query" in perm.publish, host
        assert "p.trace-ctl" in perm.subscribe, host  # they listen to it
    assert {"p.trace-ctl", "p.trace-ctl.query"} <= set(edge.publish)
    assert "p.trace-ctl.query" in edge.subscribe  # the tracer answers the questions


async def test_an_actor_cannot_switch_tracing_on(secure_bus: SecureBus, refusals: Refusals) -> None:
    plane = random_plane()
    subject = _spans.control_subject(plane)
    with trio.fail_after(30):
        async with App(
            Source(), Sink(), bus=secure_bus.url, plane=plane, credentials=secure_bus.creds_path
        ) as app:
            who = secure_bus.creds.for_host("other.sec")
            assert who is not None
            async with open_bus(secure_bus.url, who) as actor_bus:
                on = _spans.TraceCtl("on", "evil", 600.0)
                actor_bus.publish(subject, _spans.encode_ctl(on))
                text = await refusals.wait_for(subject, "other.sec")
                assert "publish" in text.lower()
                await actor_bus.flush()
            hubs = [app.hub, *app._hubs.values()]
            assert not any(hub.spans.listening for hub in hubs)
            assert await app.client(Source).fire(n=1) == [2]
    # the hubs' own questions ("who traces?") were allowed: the only refusal is the forgery
    assert len(refusals.texts()) == 1
