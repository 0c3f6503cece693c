"""Control plane on port 888: every actor answers on its own host and on the host ``all``.

Also answers the NATS service API (``$SRV.PING``, ``$SRV.INFO``, ``$SRV.STATS``, each also with
``.<name>`` and ``.<name>.<id>``), so ``nats micro ls`` lists actorbus actors. The service name
is the hostname with ``.`` turned into ``_`` (``users.example`` → ``users_example``), the id is
the instance id, and the metadata carries the hostname and the plane.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from .._transport.base import Message, Subscription
from .._wire.subjects import CONTROL_PORT
from .declarations import HandlerSpec
from .description import Description, describe_actor
from .metrics import EndpointStats
from .shapes import ActorShape

if TYPE_CHECKING:
    from .hub import Hub

__all__ = [
    "CONTROL_PORT",
    "PingInfo",
    "ServiceApi",
    "StatsInfo",
    "control_routes",
    "micro_name",
]


log = logging.getLogger("actorbus.control")


class PingInfo(msgspec.Struct):
    """What ``ping`` answers: who is running where (new fields go last, with defaults)."""

    host: str
    instance: str
    version: str
    uptime: float
    bus: str
    pid: int = 0
    plane: str = ""


async def _ping(actor: ActorShape) -> PingInfo:
    await trio.lowlevel.checkpoint()
    where = actor._placement
    return PingInfo(
        host=actor.host(),
        instance=actor.instance,
        version=str(type(actor).version),
        uptime=round(actor.uptime, 3),
        bus=where.bus if where is not None else "",
        pid=os.getpid(),
        plane=where.plane if where is not None else "",
    )


async def _describe(actor: ActorShape) -> Description:
    return describe_actor(actor)


class StatsInfo(msgspec.Struct):
    """What ``/stats`` answers: the counters of one instance (new fields go last)."""

    host: str
    instance: str
    in_flight: int
    wire: dict[str, int]
    ticks: dict[str, int]
    tick_errors: dict[str, int]
    #: Per handler (by method name): num_requests, num_errors, processing_ns, last_error.
    endpoints: dict[str, dict[str, Any]] = {}


async def _stats(actor: ActorShape) -> StatsInfo:
    await trio.lowlevel.checkpoint()
    where = actor._placement
    return StatsInfo(
        host=actor.host(),
        instance=actor.instance,
        in_flight=where.in_flight() if where is not None else 0,
        wire=dict(actor.stats.wire),
        ticks=dict(actor.stats.ticks),
        tick_errors=dict(actor.stats.tick_errors),
        endpoints={
            name: {
                "num_requests": ep.num_requests,
                "num_errors": ep.num_errors,
                "processing_ns": ep.processing_ns,
                "last_error": ep.last_error,
            }
            for name, ep in actor.stats.endpoints.items()
        },
    )


def control_routes(actor: ActorShape) -> dict[tuple[str, int, str, str], HandlerSpec]:
    """Routes every actor serves without declaring them; no queue, so every replica answers.

    ``/ping`` says who runs where; ``/describe`` lists the actor's handlers with their JSON
    Schemas (as Microbus serves OpenAPI on this port); ``/stats`` gives its counters.
    """
    specs = [
        HandlerSpec("endpoint", _ping, "ANY", "/ping", CONTROL_PORT),
        HandlerSpec("endpoint", _describe, "ANY", "/describe", CONTROL_PORT),
        HandlerSpec("endpoint", _stats, "ANY", "/stats", CONTROL_PORT),
    ]
    routes: dict[tuple[str, int, str, str], HandlerSpec] = {}
    for host in (actor.host(), "all"):
        for spec in specs:
            for method in ("GET", "POST"):
                routes[(host, CONTROL_PORT, method, spec.path)] = spec
    return routes


# -- the NATS service API ($SRV) ------------------------------------------------------------

_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+].*)?$")


def micro_name(host: str) -> str:
    """A hostname as a NATS micro service name (letters, digits, ``-`` and ``_`` only)."""
    return host.replace(".", "_")


def _semver(version: str) -> str:
    if _SEMVER.match(version):
        return version
    parts = [*version.split("."), "0", "0", "0"][:3]
    if all(p.isdigit() for p in parts):
        return ".".join(parts)
    return f"0.0.0+{re.sub(r'[^0-9A-Za-z.-]', '-', version)}"


class ServiceApi:
    """Answers ``$SRV.*`` requests for one actor instance over a plain (queue-less) subscription."""

    def __init__(self, actor: ActorShape, hub: Hub) -> None:
        self.actor = actor
        self.hub = hub
        host = actor.host()
        self.name = micro_name(host)
        self._sub: Subscription | None = None
        self._started = datetime.datetime.now(datetime.UTC)
        self._base: dict[str, Any] = {
            "name": self.name,
            "id": actor.instance,
            "version": _semver(str(type(actor).version)),
            "metadata": {"actorbus.host": host, "actorbus.plane": hub.plane},
        }

    async def start(self) -> None:
        self._sub = await self.hub.transport.subscribe("$SRV.>", self._on_message)

    async def aclose(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.unsubscribe()

    def _on_message(self, msg: Message) -> None:
        if not msg.reply:
            return
        tokens = msg.subject.split(".")
        if len(tokens) < 2 or len(tokens) > 4:
            return
        if len(tokens) >= 3 and tokens[2] != self.name:
            return
        if len(tokens) == 4 and tokens[3] != self.actor.instance:
            return
        body = self._answer(tokens[1])
        if body is None:
            return
        try:
            self.hub.transport.publish(msg.reply, json.dumps(body).encode())
        except Exception as exc:
            log.debug("could not answer %s: %r", msg.subject, exc)

    def _answer(self, verb: str) -> dict[str, Any] | None:
        if verb == "PING":
            return {"type": "io.nats.micro.v1.ping_response", **self._base}
        if verb == "INFO":
            return {
                "type": "io.nats.micro.v1.info_response",
                **self._base,
                "description": (type(self.actor).__doc__ or "").strip().split("\n")[0],
                "endpoints": self._endpoints(),
            }
        if verb == "STATS":
            return {
                "type": "io.nats.micro.v1.stats_response",
                **self._base,
                "started": self._started.isoformat().replace("+00:00", "Z"),
                "endpoints": [self._stats(ep) for ep in self._endpoints()],
                # Frames refused or dropped, by kind: an event dropped past a full inbox
                # (a slow consumer) shows as "dropped".
                "wire": dict(self.actor.stats.wire),
            }
        return None

    def _stats(self, ep: dict[str, Any]) -> dict[str, Any]:
        """One endpoint's counters as NATS micro reports them (times in nanoseconds)."""
        stats = self.actor.stats.endpoints.get(ep["name"])
        if stats is None:
            stats = EndpointStats()
        return {
            **ep,
            "num_requests": stats.num_requests,
            "num_errors": stats.num_errors,
            "processing_time": stats.processing_ns,
            "average_processing_time": stats.average_ns,
            "last_error": stats.last_error,
        }

    def _endpoints(self) -> list[dict[str, Any]]:
        from .._wire import subjects as _subjects

        cls = type(self.actor)
        host = self.actor.host()
        out: list[dict[str, Any]] = []
        for spec in cls._handlers:
            if spec.kind == "event":
                continue
            target = spec.source.host if spec.kind == "sink" and spec.source else host
            subject = _subjects.subscription_subject(
                self.hub.plane, spec.port, target, spec.method, spec.path
            )
            out.append(
                {
                    "name": spec.name,
                    "subject": subject,
                    "queue_group": spec.queue or _subjects.queue_for(host),
                    "metadata": {"kind": spec.kind, "method": spec.method, "path": spec.path},
                }
            )
        return out
