"""``current_request()``: what a running handler may know about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass

from .context import current_request as _current

__all__ = ["RequestInfo", "current_request"]


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The request a handler serves. ``from_host`` is the caller's hostname as the request's
    subject names it: nats-server verifies it under the ACLs ``actorbus acl`` generates (on a
    bus without them it is only a claim). For an event, ``event_id`` is the id its source
    stamped on it (the same on every redelivery and replay) and ``delivered`` a durable
    sink's delivery count (1 the first time; 0 in a live sink)."""

    from_host: str
    from_instance: str
    host: str
    port: int
    method: str
    path: str
    msg_id: str
    depth: int
    multicast: bool
    oneway: bool
    event_id: str = ""
    delivered: int = 0


def current_request() -> RequestInfo:
    """The request the calling handler serves; RuntimeError outside a handler."""
    frame = _current.get()
    if frame is None:
        raise RuntimeError("current_request() is only available while a handler runs")
    return RequestInfo(
        from_host=frame.from_host,
        from_instance=frame.from_instance,
        host=frame.host,
        port=frame.port,
        method=frame.method,
        path=frame.path,
        msg_id=frame.msg_id,
        depth=frame.depth,
        multicast=frame.multicast,
        oneway=frame.oneway,
        event_id=frame.event_id if frame.multicast else "",
        delivered=frame.delivered,
    )
