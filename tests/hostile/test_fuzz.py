"""Fuzzing: hypothesis-built and mutated frames at every subject an actor listens on, on the
memory bus and on a real nats-server. After each batch the actor still answers, its tasks are
back to idle, it holds nothing for peers and its memory stays bounded. (``python -m tools.fuzz``
runs the same generators for 100,000 frames.)"""

from __future__ import annotations

import random

import msgspec
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorbus import App, MemoryBus
from actorbus._wire import frames as _frames
from tools.fuzz.generators import KINDS, Shot, Target
from tools.fuzz.harness import (
    FuzzTarget,
    batch_of,
    count_tasks,
    fire,
    fire_raw,
    leftovers,
    rss_bytes,
    settle,
    target_of,
)
from tools.fuzz.rawnats import RawNats

from .peers import PEER_ACK_WINDOW

INBOX = "r.test.fuzzer.~fuzz0000"

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
texts = st.text(max_size=30) | st.sampled_from(["", "fuzz-target.test", "/add", "POST", "x" * 5000])
requests = st.builds(
    _frames.Request,
    msg_id=texts,
    from_host=texts,
    from_instance=texts,
    host=st.sampled_from(["fuzz-target.test", "fuzz-source.test", "other.test"]) | texts,
    port=st.sampled_from([443, 417, 888]) | ints,
    method=st.sampled_from(["POST", "GET"]) | texts,
    path=st.sampled_from(["/add", "/on-poke", "/ping", "/stats"]) | texts,
    depth=st.sampled_from([0, 1, 64, 65]) | ints,
    budget_ms=st.sampled_from([0, 50, 2**63 - 1]) | ints,
    body=st.sampled_from([{"a": 1}, {"n": 2}, {}, {"a": "x"}, [1]]).map(_frames.encode_body),
    multicast=st.booleans(),
    oneway=st.booleans(),
    token=texts,
)
others = st.one_of(
    st.builds(_frames.Cancel, msg_id=texts, from_host=texts, from_instance=texts, token=texts),
    st.builds(_frames.Ack, msg_id=texts, from_host=texts, from_instance=texts, queue=texts),
    st.builds(
        _frames.Fault,
        msg_id=texts,
        from_host=texts,
        from_instance=texts,
        queue=texts,
        status=ints,
        type=texts,
        message=texts,
    ),
)
payloads = st.one_of(
    st.binary(max_size=200),
    requests.map(_frames.encode),
    others.map(_frames.encode),
    st.dictionaries(st.sampled_from(["op", "msg_id", "host", "depth"]), ints | texts).map(
        msgspec.msgpack.encode
    ),
)
# A shot: a payload for the subject at an index of `Target.subjects()`, with or without a reply
# subject; or a mutation from the shared generators (kind and seed).
described = st.one_of(
    st.tuples(st.just("payload"), payloads, st.integers(0, 8), st.booleans()),
    st.tuples(st.just("mutation"), st.sampled_from(KINDS), st.integers(0, 2**32)),
)


def _materialise(shots: list[tuple[object, ...]], target: Target) -> list[Shot]:
    out: list[Shot] = []
    subjects = target.subjects()
    for shot in shots:
        if shot[0] == "payload":
            _, data, index, with_reply = shot
            assert isinstance(data, bytes) and isinstance(index, int)
            reply = f"{target.inbox}.{index}" if with_reply else None
            out.append(Shot(subjects[index], data, reply))
        else:
            from tools.fuzz.generators import shots as generate

            _, kind, seed = shot
            assert isinstance(kind, str) and isinstance(seed, int)
            out.extend(generate(kind, target, random.Random(seed)))
    return out


async def _attack(described_shots: list[tuple[object, ...]], url: str | None = None) -> None:
    bus: str | MemoryBus = url or MemoryBus()
    plane, actor = f"fuzz{random.getrandbits(32):x}", FuzzTarget()
    async with (
        App(actor, bus=bus, plane=plane),
        App(bus=bus, plane=plane, hostname="fuzzer.test", ack_window=PEER_ACK_WINDOW) as attacker,
    ):
        with trio.fail_after(20):
            await settle(attacker, actor)
            idle = count_tasks(workers=False)
            fire(attacker.transport, _materialise(described_shots, target_of(actor, plane, INBOX)))
            await settle(attacker, actor)
        assert count_tasks(workers=False) == idle
        assert set(leftovers(actor).values()) == {0}
        assert actor.stats.wire["internal"] == 0


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(described, min_size=1, max_size=12))
def test_hypothesis_frames_never_hurt_the_actor(described_shots: list[tuple[object, ...]]) -> None:
    trio.run(_attack, described_shots)


@pytest.mark.nats
def test_hypothesis_frames_on_a_real_nats_server(nats_url: str) -> None:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(described, min_size=1, max_size=12))
    def attack(described_shots: list[tuple[object, ...]]) -> None:
        trio.run(_attack, described_shots, nats_url)

    attack()


async def test_batches_of_mutations(shared: str | MemoryBus, plane: str) -> None:
    """Every kind of attack, in batches, on both buses."""
    rng = random.Random(20261130)
    actor = FuzzTarget()
    async with (
        App(actor, bus=shared, plane=plane),
        App(
            bus=shared, plane=plane, hostname="fuzzer.test", ack_window=PEER_ACK_WINDOW
        ) as attacker,
    ):
        target = target_of(actor, plane, f"{plane}.{INBOX}")
        with trio.fail_after(30):
            await settle(attacker, actor)
        idle, rss = count_tasks(workers=False), rss_bytes()
        for _ in range(6):
            fire(attacker.transport, batch_of(target, rng, 400, KINDS))
            with trio.fail_after(60):
                await settle(attacker, actor)
            assert count_tasks(workers=False) == idle
            assert set(leftovers(actor).values()) == {0}, leftovers(actor)
        counted = actor.stats.wire
        assert counted["internal"] == 0
        for kind in ("malformed", "mismatch", "duplicate", "unmatched"):
            assert counted[kind] > 0, kind
        assert rss_bytes() - rss < 64 * 2**20  # bounded: nothing a peer sent is kept
        assert await attacker.client(FuzzTarget).add(a=2) == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_each_kind_alone(kind: str, plane: str) -> None:
    """One kind at a time, so a failure names the attack."""
    rng = random.Random(kind)
    bus, actor = MemoryBus(), FuzzTarget()
    async with (
        App(actor, bus=bus, plane=plane),
        App(bus=bus, plane=plane, hostname="fuzzer.test", ack_window=PEER_ACK_WINDOW) as attacker,
    ):
        target = target_of(actor, plane, f"{plane}.{INBOX}")
        with trio.fail_after(30):
            await settle(attacker, actor)
            idle = count_tasks(workers=False)
            fire(attacker.transport, batch_of(target, rng, 200, (kind,)))
            await settle(attacker, actor)
        assert count_tasks(workers=False) == idle
        assert set(leftovers(actor).values()) == {0}
        assert actor.stats.wire["internal"] == 0


@pytest.mark.nats
async def test_header_blocks_of_any_size_and_shape(nats_url: str, plane: str) -> None:
    """NATS headers a client library would never write: huge, forged statuses, garbage."""
    rng = random.Random(417)
    actor = FuzzTarget()
    async with (
        App(actor, bus=nats_url, plane=plane),
        App(
            bus=nats_url, plane=plane, hostname="fuzzer.test", ack_window=PEER_ACK_WINDOW
        ) as attacker,
    ):
        target = target_of(actor, plane, f"{plane}.{INBOX}")
        with trio.fail_after(30):
            await settle(attacker, actor)
        idle = count_tasks(workers=False)
        raw = await RawNats.connect(nats_url)
        try:
            for _ in range(3):
                with trio.fail_after(60):
                    await fire_raw(raw, batch_of(target, rng, 150, KINDS), rng)
                    await settle(attacker, actor)
                assert count_tasks(workers=False) == idle
                assert set(leftovers(actor).values()) == {0}, leftovers(actor)
        finally:
            await raw.aclose()
        assert actor.stats.wire["internal"] == 0
        assert actor.stats.wire["malformed"] > 0  # the messages did reach the actor
        assert await attacker.client(FuzzTarget).add(a=2) == 3
