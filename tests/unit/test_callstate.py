"""The call/gather state machine and budget arithmetic (pure: time is a number, no trio)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorbus._wire import callstate as _callstate
from actorbus._wire.callstate import Budget, ResponderTally

# -- budgets ----------------------------------------------------------------------------------


def test_defaults() -> None:
    assert _callstate.DEFAULT_BUDGET == 20.0
    assert _callstate.MAX_DEPTH == 64
    assert _callstate.DEFAULT_ACK_WINDOW == 0.25


@pytest.mark.parametrize(
    ("now", "deadline", "default", "expected"),
    [
        pytest.param(100.0, math.inf, 20.0, Budget(120.0, 20_000, True), id="no-deadline"),
        pytest.param(100.0, math.inf, 5.0, Budget(105.0, 5_000, True), id="no-deadline-custom"),
        pytest.param(0.0, math.inf, 0.5, Budget(0.5, 500, True), id="no-deadline-at-zero"),
        pytest.param(100.0, 102.5, 20.0, Budget(102.5, 2_500, False), id="finite"),
        pytest.param(100.0, 130.0, 20.0, Budget(130.0, 30_000, False), id="longer-than-default"),
        pytest.param(100.0, 100.0, 20.0, Budget(100.0, 0, False), id="now"),
        pytest.param(100.0, 99.0, 20.0, Budget(99.0, 0, False), id="past"),
        pytest.param(100.0, 100.0004, 20.0, Budget(100.0004, 0, False), id="sub-millisecond"),
    ],
)
def test_budget_for(now: float, deadline: float, default: float, expected: Budget) -> None:
    budget = _callstate.budget_for(now, deadline, default)
    assert budget == expected
    assert type(budget.budget_ms) is int


def test_budget_for_uses_the_default_budget_by_default() -> None:
    assert _callstate.budget_for(1.0, math.inf) == Budget(21.0, 20_000, True)


def test_budget_for_cancelled_scope_is_no_time_left() -> None:
    budget = _callstate.budget_for(100.0, -math.inf)
    assert budget.budget_ms == 0
    assert not budget.defaulted


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=-1e3, max_value=1e5),
)
def test_budget_never_exceeds_the_time_left(now: float, delta: float) -> None:
    deadline = now + delta
    budget = _callstate.budget_for(now, deadline)
    remaining_ms = (deadline - now) * 1000
    assert not budget.defaulted
    assert budget.deadline == deadline
    assert 0 <= budget.budget_ms <= max(0.0, remaining_ms)
    assert budget.budget_ms > remaining_ms - 1


@pytest.mark.parametrize(
    ("now", "budget_ms", "reserve", "expected"),
    [
        (10.0, 2_000, 0.02, 11.98),
        (10.0, 2_000, 0.0, 12.0),
        (10.0, 20_000, 0.25, 29.75),
        (10.0, 20, 0.02, 10.0),  # exactly the reserve
        (10.0, 10, 0.02, 10.0),  # less than the reserve: never before now
        (10.0, 0, 0.02, 10.0),
        (0.0, 1, 0.0, 0.001),
    ],
)
def test_handler_deadline(now: float, budget_ms: int, reserve: float, expected: float) -> None:
    assert _callstate.handler_deadline(now, budget_ms, reserve) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=0, max_value=1e4),
    st.floats(min_value=0, max_value=1),
)
def test_callee_deadline_is_never_later_than_the_callers(
    now: float, delta: float, reserve: float
) -> None:
    """Same clock on both sides: the budget shrinks across the hop, never grows."""
    budget = _callstate.budget_for(now, now + delta)
    callee = _callstate.handler_deadline(now, budget.budget_ms, reserve)
    assert now <= callee <= budget.deadline + 1e-9


@pytest.mark.parametrize(
    ("current", "limit", "expected"),
    [
        (0, 64, 1),
        (1, 64, 2),
        (62, 64, 63),
        (63, 64, 64),
        (64, 64, None),
        (100, 64, None),
        (2, 3, 3),
        (3, 3, None),
        (0, 1, 1),
        (1, 1, None),
    ],
)
def test_next_depth(current: int, limit: int, expected: int | None) -> None:
    assert _callstate.next_depth(current, limit) == expected


def test_next_depth_allows_exactly_64_hops() -> None:
    depth, hops = 0, 0
    while (nxt := _callstate.next_depth(depth)) is not None:
        assert nxt == depth + 1
        depth, hops = nxt, hops + 1
        assert hops <= 1000
    assert hops == 64
    assert depth == 64


# -- the gather state machine -----------------------------------------------------------------

T0 = 1000.0  # the gather starts at an arbitrary non-zero time
WINDOW = 0.25


@dataclass(frozen=True)
class Ack:
    instance: str
    queue: str = "files.example"


@dataclass(frozen=True)
class Reply:
    instance: str
    queue: str = "files.example"


@dataclass(frozen=True)
class NoResponders:
    pass


@dataclass(frozen=True)
class Invalidate:
    pass


@dataclass(frozen=True)
class Check:
    """At ``T0 + at``: is the call done, did nobody answer, what is pending, when to wake."""

    at: float
    done: bool
    nobody: bool = False
    pending: tuple[str, ...] | None = None
    wake: float | None = None  # offset from T0, or math.inf


Step = Ack | Reply | NoResponders | Invalidate | Check


@dataclass(frozen=True)
class Scenario:
    multicast: bool
    steps: tuple[Step, ...]
    expected: frozenset[str] | None = None


SCENARIOS: dict[str, Scenario] = {
    # -- unicast --
    "unicast: reply without ack completes": Scenario(
        False,
        (
            Check(0.0, done=False, pending=(), wake=WINDOW),
            Reply("i1"),
            Check(0.001, done=True, nobody=False, pending=()),
            Check(WINDOW, done=True, nobody=False),
        ),
    ),
    "unicast: ack then reply": Scenario(
        False,
        (
            Ack("i1"),
            # an ack proves a responder: no timer is needed until the reply (or the budget)
            Check(0.01, done=False, pending=("i1",), wake=math.inf),
            Reply("i1"),
            Check(0.02, done=True, pending=()),
        ),
    ),
    "unicast: ack then nothing waits past the window": Scenario(
        False,
        (
            Ack("i1"),
            Check(0.1, done=False, nobody=False),
            Check(WINDOW, done=False, nobody=False, pending=("i1",), wake=math.inf),
            Check(60.0, done=False, nobody=False),
        ),
    ),
    "unicast: no ack within the window is nobody": Scenario(
        False,
        (
            Check(0.0, done=False, nobody=False, wake=WINDOW),
            Check(WINDOW - 0.001, done=False, nobody=False, wake=WINDOW),
            Check(WINDOW, done=True, nobody=True, wake=math.inf),
        ),
    ),
    "unicast: no-responders status is nobody at once": Scenario(
        False,
        (NoResponders(), Check(0.0, done=True, nobody=True, pending=(), wake=math.inf)),
    ),
    # -- multicast --
    "multicast: two acks, one reply is not done": Scenario(
        True,
        (
            Ack("i1"),
            Ack("i2", "audit.example"),
            Reply("i1"),
            Check(0.1, done=False, pending=("i2",), wake=WINDOW),
            Check(WINDOW, done=False, pending=("i2",), wake=math.inf),
            Check(30.0, done=False),
        ),
    ),
    "multicast: both replies, done once the window closes": Scenario(
        True,
        (
            Ack("i1"),
            Ack("i2", "audit.example"),
            Reply("i1"),
            Reply("i2", "audit.example"),
            Check(0.1, done=False, pending=(), wake=WINDOW),
            Check(WINDOW - 0.001, done=False),
            Check(WINDOW, done=True, nobody=False, wake=math.inf),
        ),
    ),
    "multicast: a reply may overtake its ack": Scenario(
        True,
        (
            Reply("i1"),
            Check(0.1, done=False, pending=()),
            Ack("i1"),
            Check(WINDOW, done=True, nobody=False, pending=()),
        ),
    ),
    "multicast: a repeated ack counts once": Scenario(
        True,
        (
            Ack("i1"),
            Ack("i1"),
            Check(0.0, done=False, pending=("i1",)),
            Reply("i1"),
            Check(WINDOW, done=True, pending=()),
        ),
    ),
    "multicast: expected responders all acked and replied is done before the window": Scenario(
        True,
        (
            Ack("i1", "files.example"),
            Check(0.01, done=False, wake=WINDOW),
            Ack("i2", "audit.example"),
            Check(0.02, done=False, pending=("i1", "i2"), wake=math.inf),
            Reply("i1", "files.example"),
            Check(0.03, done=False, pending=("i2",)),
            Reply("i2", "audit.example"),
            Check(0.04, done=True, nobody=False, pending=()),
        ),
        expected=frozenset({"files.example", "audit.example"}),
    ),
    "multicast: two replicas of one expected queue": Scenario(
        True,
        (
            Ack("i1", "files.example"),
            Ack("i2", "files.example"),
            Reply("i1", "files.example"),
            Check(0.01, done=False, pending=("i2",)),
            Reply("i2", "files.example"),
            Check(0.02, done=True),
        ),
        expected=frozenset({"files.example"}),
    ),
    "multicast: expected responders partly acked waits for the window": Scenario(
        True,
        (
            Ack("i1", "files.example"),
            Reply("i1", "files.example"),
            Check(0.1, done=False, wake=WINDOW),
            Check(WINDOW, done=True, nobody=False),
        ),
        expected=frozenset({"files.example", "audit.example"}),
    ),
    "multicast: invalidate falls back to the window": Scenario(
        True,
        (
            Ack("i1", "files.example"),
            Reply("i1", "files.example"),
            Invalidate(),
            Check(0.1, done=False, wake=WINDOW),
            Check(WINDOW, done=True),
        ),
        expected=frozenset({"files.example"}),
    ),
    "multicast: empty expected set falls back to the window": Scenario(
        True,
        (Check(0.1, done=False, nobody=False, wake=WINDOW), Check(WINDOW, done=True, nobody=True)),
        expected=frozenset(),
    ),
    "multicast: nobody acks within the window": Scenario(
        True,
        (
            Check(0.0, done=False, nobody=False, wake=WINDOW),
            Check(WINDOW, done=True, nobody=True, pending=(), wake=math.inf),
        ),
    ),
    "multicast: no-responders status ends at once": Scenario(
        True,
        (NoResponders(), Check(0.0, done=True, nobody=True, wake=math.inf)),
        expected=frozenset({"files.example"}),
    ),
    "multicast: pending lists ackers without replies, in ack order": Scenario(
        True,
        (
            Ack("i3"),
            Ack("i1"),
            Ack("i2"),
            Reply("i1"),
            Check(0.1, done=False, pending=("i3", "i2")),
            Reply("i3"),
            Reply("i2"),
            Check(0.2, done=False, pending=()),
            Check(0.3, done=True),
        ),
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_gather(name: str) -> None:
    scenario = SCENARIOS[name]
    gather = ResponderTally(
        multicast=scenario.multicast,
        started=T0,
        ack_window=WINDOW,
        expected=scenario.expected,
    )
    checks = 0
    for i, step in enumerate(scenario.steps):
        where = f"step {i}: {step}"
        match step:
            case Ack(instance, queue):
                gather.on_ack(instance, queue)
            case Reply(instance, queue):
                gather.on_reply(instance, queue)
            case NoResponders():
                gather.on_no_responders()
            case Invalidate():
                gather.invalidate()
            case Check(at, done, nobody, pending, wake):
                checks += 1
                now = T0 + at
                assert gather.done(now) is done, where
                assert gather.nobody(now) is nobody, where
                if pending is not None:
                    assert gather.pending() == list(pending), where
                if wake is not None:
                    assert gather.wake_at(now) == T0 + wake, where
    assert checks, "a scenario must check something"


def test_responders_are_the_queues_that_answered() -> None:
    gather = ResponderTally(multicast=True, started=T0, ack_window=WINDOW)
    assert gather.responders() == frozenset()
    gather.on_ack("i1", "files.example")
    gather.on_ack("i2", "files.example")
    gather.on_reply("i3", "audit.example")
    assert gather.responders() == frozenset({"files.example", "audit.example"})


def test_learned_responders_finish_the_next_gather_early() -> None:
    """What one gather learned (its responders) lets the next one finish without the window."""
    first = ResponderTally(multicast=True, started=T0, ack_window=WINDOW)
    for inst, queue in (("i1", "files.example"), ("i2", "audit.example")):
        first.on_ack(inst, queue)
        first.on_reply(inst, queue)
    assert not first.done(T0 + 0.01)
    assert first.done(T0 + WINDOW)

    second = ResponderTally(
        multicast=True, started=T0, ack_window=WINDOW, expected=first.responders()
    )
    for inst, queue in (("i4", "audit.example"), ("i5", "files.example")):
        second.on_reply(inst, queue)
    assert second.done(T0 + 0.01)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["ack", "reply"]), st.sampled_from(["a", "b", "c"]))),
    st.floats(min_value=0, max_value=10),
)
def test_multicast_invariants(events: list[tuple[str, str]], at: float) -> None:
    gather = ResponderTally(multicast=True, started=T0, ack_window=WINDOW)
    for kind, instance in events:
        if kind == "ack":
            gather.on_ack(instance, instance + ".example")
        else:
            gather.on_reply(instance, instance + ".example")
    now = T0 + at
    acked = {i for _, i in events}
    replied = {i for k, i in events if k == "reply"}
    assert set(gather.pending()) == acked - replied
    assert gather.done(now) == (at >= WINDOW and not (acked - replied))
    assert gather.nobody(now) == (at >= WINDOW and not acked)
    assert gather.wake_at(now) == (math.inf if at >= WINDOW else T0 + WINDOW)


def test_missing_expected_only_after_the_window_and_while_a_listed_queue_is_silent() -> None:
    tally = ResponderTally(multicast=True, started=0.0, ack_window=1.0, expected=frozenset("ab"))
    tally.on_ack("i1", "a")
    assert not tally.missing_expected(0.5)  # the window is still open
    assert tally.missing_expected(1.5)  # "b" never acked
    tally.on_ack("i2", "b")
    assert not tally.missing_expected(1.5)
    assert not ResponderTally(multicast=True, started=0.0, ack_window=1.0).missing_expected(2.0)
