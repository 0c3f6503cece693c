"""What a broken or hostile peer on the bus sends, as (subject, bytes, reply) shots.

Each kind is one attack: random bytes, truncated and bit-flipped frames, fields of the wrong
type, extreme budgets and depths, huge fields, duplicates, frames whose route disagrees with
their subject, forged cancels, replies to calls that never happened, and requests whose reply
subject points back at the actor itself. Shots go to every subject an actor listens on:
its endpoint, the event its sink serves, its direct and all-replicas addresses, its control
routes, the NATS service API and its own reply inbox. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects

__all__ = ["KINDS", "Shot", "Target", "shots"]

KINDS: Final = (
    "random_bytes",
    "truncated",
    "bit_flip",
    "wrong_types",
    "extreme",
    "huge_fields",
    "duplicate",
    "mismatch",
    "forged_cancel",
    "reply_to_nobody",
    "reflected",
)


@dataclass(frozen=True)
class Route:
    host: str
    port: int
    method: str
    path: str
    body: bytes  # valid arguments


@dataclass(frozen=True)
class Target:
    """Where the fuzzed actor listens, and where answers to the fuzzer go."""

    plane: str
    host: str
    instance: str
    endpoint: Route  # a fast endpoint of the actor
    event: Route  # the event its sink serves (on the source's host)
    inbox: str  # the fuzzer's own reply prefix (``<inbox>.<anything>``)

    @property
    def reply_prefix(self) -> str:
        """The actor's own reply inbox (its outbound calls' replies arrive there)."""
        return _subjects.reply_prefix(self.plane, self.host, self.instance)

    def subject_of(self, route: Route, instance: str | None = None) -> str:
        return _subjects.request_subject(
            self.plane,
            route.port,
            route.host,
            route.method,
            route.path,
            source="fuzz.test",
            instance=instance,
        )

    def subjects(self) -> list[str]:
        """Every subject the actor (or its process) listens on."""
        plane, host = self.plane, self.host
        control = _subjects.CONTROL_PORT
        return [
            self.subject_of(self.endpoint),
            self.subject_of(self.event),
            self.subject_of(self.endpoint, self.instance),
            self.subject_of(self.endpoint, _subjects.ALL_REPLICAS),
            _subjects.request_subject(plane, control, host, "GET", "/ping", source="fuzz.test"),
            _subjects.request_subject(plane, control, "all", "POST", "/stats", source="fuzz.test"),
            f"{self.reply_prefix}.{secrets.token_hex(2)}",  # the server's status subject
            _subjects.answer_subject(  # a responder's answer, as fuzz.test
                f"{self.reply_prefix}.{secrets.token_hex(2)}", plane, "fuzz.test"
            ),
            "$SRV.PING",
            f"$SRV.STATS.{host.replace('.', '_')}",
        ]


@dataclass(frozen=True)
class Shot:
    subject: str
    data: bytes
    reply: str | None = None


def _request(t: Target, route: Route, rng: random.Random, **changes: Any) -> _frames.Request:
    fields: dict[str, Any] = {
        "msg_id": f"{rng.getrandbits(24):x}",
        "from_host": "fuzz.test",
        "from_instance": "fuzz0000",
        "host": route.host,
        "port": route.port,
        "method": route.method,
        "path": route.path,
        "depth": 1,
        "budget_ms": 2000,
        "body": msgspec.Raw(route.body),
        "multicast": route is t.event,
        "token": f"{rng.getrandbits(64):016x}",
    }
    fields.update(changes)
    return _frames.Request(**fields)


def _some_route(t: Target, rng: random.Random) -> Route:
    return t.endpoint if rng.random() < 0.6 else t.event


def _inbox(t: Target, rng: random.Random) -> str | None:
    return None if rng.random() < 0.2 else f"{t.inbox}.{rng.getrandbits(32):x}"


def _valid_bytes(t: Target, rng: random.Random) -> bytes:
    route = _some_route(t, rng)
    if rng.random() < 0.7:
        return _frames.encode(_request(t, route, rng))
    reply = rng.choice([_frames.Ack, _frames.Response, _frames.Fault, _frames.Cancel])
    common = {"msg_id": "1", "from_host": t.host, "from_instance": "x", "token": "t"}
    if reply is _frames.Cancel:
        return _frames.encode(_frames.Cancel(**common))
    if reply is _frames.Fault:
        return _frames.encode(_frames.Fault(**common, queue="q", status=500, type="E", message=""))
    return _frames.encode(reply(**common, queue="q"))


_WRONG: Final[list[Any]] = [None, True, -1, 2**64 - 1, 1.5, "x", b"\xff", [], {"a": 1}, [1, "a"]]


def _wrong_types(t: Target, rng: random.Random) -> bytes:
    route = _some_route(t, rng)
    fields = msgspec.structs.asdict(_request(t, route, rng))
    fields["body"] = msgspec.msgpack.decode(route.body)
    fields["op"] = rng.choice(["req", "req", "req", "ack", "cancel", "nope", 7])
    name = rng.choice(sorted(fields))
    fields[name] = rng.choice(_WRONG)
    if rng.random() < 0.3:
        fields.pop(rng.choice(sorted(fields)))
    return msgspec.msgpack.encode(fields)


def shots(kind: str, t: Target, rng: random.Random) -> list[Shot]:
    """One attack of ``kind`` (one or two messages)."""
    subject = rng.choice(t.subjects())
    if kind == "random_bytes":
        return [Shot(subject, rng.randbytes(rng.randrange(0, 200)), _inbox(t, rng))]
    if kind == "truncated":
        data = _valid_bytes(t, rng)
        return [Shot(subject, data[: rng.randrange(0, len(data))], _inbox(t, rng))]
    if kind == "bit_flip":
        data = bytearray(_valid_bytes(t, rng))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return [Shot(subject, bytes(data), _inbox(t, rng))]
    if kind == "wrong_types":
        return [Shot(subject, _wrong_types(t, rng), _inbox(t, rng))]
    if kind == "extreme":
        route = _some_route(t, rng)
        budget = rng.choice([0, -1, -(2**63), 2**31, 2**63 - 1, 2**64 - 1])
        depth = rng.choice([0, -1, 64, 65, 2**63 - 1, -(2**63)])
        frame = _request(t, route, rng, budget_ms=budget, depth=depth)
        return [Shot(t.subject_of(route), _frames.encode(frame), _inbox(t, rng))]
    if kind == "huge_fields":
        route = _some_route(t, rng)
        name = rng.choice(["msg_id", "from_host", "from_instance", "trace_id", "token", "path"])
        frame = _request(t, route, rng, **{name: "h" * rng.choice([1_000, 60_000])})
        return [Shot(rng.choice([t.subject_of(route), subject]), _frames.encode(frame), None)]
    if kind == "duplicate":
        route = _some_route(t, rng)
        data = _frames.encode(_request(t, route, rng))
        reply = _inbox(t, rng)
        return [Shot(t.subject_of(route), data, reply), Shot(t.subject_of(route), data, reply)]
    if kind == "mismatch":
        route, other = (t.endpoint, t.event) if rng.random() < 0.5 else (t.event, t.endpoint)
        frame = _request(t, route, rng)
        wrong = rng.choice([t.subject_of(other), t.subject_of(other, t.instance)])
        return [Shot(wrong, _frames.encode(frame), _inbox(t, rng))]
    if kind == "forged_cancel":
        cancel = _frames.Cancel(
            msg_id=f"{rng.getrandbits(8):x}",
            from_host="app.actorbus",
            from_instance=rng.choice(["fuzz0000", t.instance]),
            token=rng.choice(["", f"{rng.getrandbits(64):016x}"]),
        )
        return [Shot(t.subject_of(t.endpoint, t.instance), _frames.encode(cancel), None)]
    if kind == "reply_to_nobody":
        msg_id = f"{rng.getrandbits(8):x}"
        return [Shot(f"{t.reply_prefix}.{msg_id}", _valid_bytes(t, rng), None)]
    if kind == "reflected":  # the actor is made to answer into its own reply inbox
        route = _some_route(t, rng)
        reply = f"{t.reply_prefix}.{rng.getrandbits(8):x}"
        return [Shot(t.subject_of(route), _frames.encode(_request(t, route, rng)), reply)]
    raise ValueError(f"unknown kind {kind!r}")
