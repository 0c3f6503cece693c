"""Fragments without a bus: `split` and `Assembly` (pure), and the bounded `Reassembly`."""

from __future__ import annotations

import msgspec
import pytest
import trio
from hypothesis import assume, given
from hypothesis import strategies as st

from actorbus._runtime.fragments import Budget, Reassembly, Set
from actorbus._runtime.timers import Timers
from actorbus._wire import fragments as _pieces
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects


def _frame(size: int) -> _frames.Request:
    return _frames.Request(
        "7", "a.test", "inst1", "b.test", 443, "POST", "/x", 1, 1000,
        body=_frames.encode_body(b"q" * size), token="tok",
    )  # fmt: skip


def _split(size: int, max_payload: int) -> tuple[bytes, list[_frames.Fragment]]:
    frame = _frame(size)
    data = _frames.encode(frame)
    pieces = _pieces.split(data, max_payload, frame, "a.test")
    assert all(len(p) <= max_payload for p in pieces)
    out = [_frames.decode(p) for p in pieces]
    assert all(isinstance(p, _frames.Fragment) for p in out)
    return data, out  # type: ignore[return-value]


@given(
    size=st.integers(1000, 20_000),
    max_payload=st.integers(600, 4000),
    order=st.randoms(use_true_random=False),
    dups=st.integers(0, 3),
)
def test_any_order_with_repeats_gives_back_the_frame(
    size: int, max_payload: int, order: object, dups: int
) -> None:
    assume(size > 2 * max_payload)  # only frames past max_payload are split
    data, pieces = _split(size, max_payload)
    first, rest = pieces[0], pieces[1:] + pieces[1 : 1 + dups]
    order.shuffle(rest)  # type: ignore[attr-defined]
    assert _pieces.check_first(first, len(data)) == ""
    assembly = _pieces.Assembly(first)
    outcomes = [assembly.add(p) for p in rest]
    assert outcomes.count(_pieces.Assembly.DONE) == 1
    assert outcomes.count(_pieces.Assembly.DUPLICATE) == min(dups, len(pieces) - 1)
    assert assembly.join() == data


def test_pieces_that_lie_are_invalid() -> None:
    data, pieces = _split(10_000, 1500)
    assert _pieces.check_first(pieces[0], len(data) - 1) == "too large"
    assert _pieces.check_first(pieces[1], len(data)) != ""  # not a first piece
    for lie in (
        msgspec.structs.replace(pieces[0], count=1),
        msgspec.structs.replace(pieces[0], token=""),
        msgspec.structs.replace(pieces[0], data=msgspec.Raw(b"\x01")),  # not a bin
        msgspec.structs.replace(pieces[0], data=msgspec.Raw(b"\xc4\x05ab")),  # short bin
    ):
        assert _pieces.check_first(lie, len(data)) not in ("", "too large")
    assembly = _pieces.Assembly(pieces[0])
    invalid = _pieces.Assembly.INVALID
    assert assembly.add(msgspec.structs.replace(pieces[1], count=99)) == invalid
    assert assembly.add(msgspec.structs.replace(pieces[1], size=1)) == invalid
    assert assembly.add(msgspec.structs.replace(pieces[1], index=-1)) == invalid
    assert (
        assembly.add(msgspec.structs.replace(pieces[1], data=msgspec.Raw(b"\xc4\x00"))) == invalid
    )
    big = msgspec.Raw(b"\xc6" + len(data).to_bytes(4, "big") + b"x" * len(data))
    assert assembly.add(msgspec.structs.replace(pieces[1], data=big)) == invalid  # past the size


def test_a_server_limit_too_small_to_carry_pieces() -> None:
    frame = _frame(10_000)
    with pytest.raises(ValueError, match="too small"):
        _pieces.split(_frames.encode(frame), 200, frame, "a.test")


def test_the_rest_goes_to_the_acker_on_the_same_route() -> None:
    first = _subjects.request_subject("p", 417, "src.test", "POST", "/on-x", source="src.test")
    cont = _subjects.continuation_subject(first, "p", "sink.test", "abc")
    assert cont == _subjects.request_subject(
        "p", 417, "sink.test", "POST", "/on-x", source="src.test", instance="abc"
    )  # the same sender, so the ACL checks it again
    direct = _subjects.request_subject(
        "p", 443, "b.test", "POST", "/y", source="a.test", instance="zz"
    )
    assert _subjects.continuation_subject(direct, "p", "b.test", "abc").endswith("b.~abc.|.POST.y")
    assert _subjects.continuation_subject("p.r.x.y", "p", "b.test", "abc") == ""
    assert _subjects.continuation_subject(first, "other", "b.test", "abc") == ""
    with pytest.raises(_subjects.SubjectError):
        _subjects.continuation_subject(first, "p", "b.test", "a.b")


async def test_reassembly_is_bounded_and_drops_what_stalls(
    autojump_clock: trio.abc.Clock,
) -> None:
    timers = Timers()
    stalled: list[Set] = []
    budget = Budget(25_000)
    _, pieces = _split(10_000, 1500)
    async with trio.open_nursery() as nursery:
        await nursery.start(timers.run)
        store = Reassembly(timers, budget, timeout=2.0, max_sets=3)
        first = pieces[0]
        assert store.begin("a", first, None, stalled.append) == Reassembly.STARTED
        assert store.begin("a", first, None, stalled.append) == Reassembly.DUPLICATE
        assert store.begin("b", first, None, stalled.append) == Reassembly.STARTED
        assert store.begin("c", first, None, stalled.append) == Reassembly.FULL  # bytes
        assert budget.held == 2 * first.size
        await trio.sleep(1.5)
        a = store.get("a")
        assert a is not None and store.add(a, pieces[1]) == _pieces.Assembly.MORE  # a lives on
        await trio.sleep(1.0)  # b stalled (2.5 s since its start); a did not (1.0 s)
        assert [s.key for s in stalled] == ["b"] and store.get("b") is None
        await trio.sleep(2.0)
        assert [s.key for s in stalled] == ["b", "a"] and len(store) == 0
        assert budget.held == 0 and len(timers) <= 1
        small = Reassembly(None, Budget(10**9), max_sets=1)  # no timer: bounded by count
        assert small.begin("x", first, None, stalled.append) == Reassembly.STARTED
        assert small.begin("y", first, None, stalled.append) == Reassembly.FULL
        nursery.cancel_scope.cancel()
