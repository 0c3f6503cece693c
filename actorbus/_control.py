"""Control plane on port 888: every actor answers on its own host and on the host ``all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ._decorators import HandlerSpec

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = ["CONTROL_PORT", "PingInfo", "control_routes"]

CONTROL_PORT = 888


class PingInfo(msgspec.Struct):
    """What ``ping`` answers: who is running where."""

    host: str
    instance: str
    version: str
    uptime: float
    bus: str


async def _ping(actor: Actor) -> PingInfo:
    caller = actor._running_caller()
    return PingInfo(
        host=actor.host(),
        instance=actor.instance,
        version=str(type(actor).version),
        uptime=round(actor.uptime, 3),
        bus=caller.hub.transport.describe(),
    )


def control_routes(actor: Actor) -> dict[tuple[str, int, str, str], HandlerSpec]:
    """Routes every actor serves without declaring them; no queue, so every replica answers."""
    ping = HandlerSpec("endpoint", _ping, "ANY", "/ping", CONTROL_PORT)
    routes: dict[tuple[str, int, str, str], HandlerSpec] = {}
    for host in (actor.host(), "all"):
        for method in ("GET", "POST"):
            routes[(host, CONTROL_PORT, method, "/ping")] = ping
    return routes

