"""The directory built from announcements (pure): deltas, gaps, bounds, expected queues."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actorbus._wire import directory as d
from actorbus._wire.subjects import request_subject, subscription_subject

EVENT = subscription_subject("p", 417, "users.example", "POST", "/on-user-deleted")
FIRED = request_subject("p", 417, "users.example", "POST", "/on-user-deleted")
OTHER = subscription_subject("p", 417, "users.example", "POST", "/on-other")


def test_whole_sets_and_deltas_give_the_expected_queues() -> None:
    directory = d.Directory()
    assert directory.queues_for(FIRED) is None
    assert directory.apply(d.Announce("a", 3, [(EVENT, "files.example")], full=True))
    assert directory.queues_for(FIRED) == {"files.example"}
    assert directory.apply(d.Announce("b", 0, [(EVENT, "groups.example")], full=True))
    assert directory.apply(
        d.Announce("a", 4, [(OTHER, "files.example")], [(EVENT, "files.example")])
    )
    assert directory.queues_for(FIRED) == {"groups.example"}
    assert directory.apply(d.Announce("b", 1, removed=[(EVENT, "groups.example")]))
    assert directory.queues_for(FIRED) is None


def test_an_unchanged_whole_set_is_no_change() -> None:
    directory = d.Directory()
    msg = d.Announce("a", 0, [(EVENT, "files.example")], full=True)
    assert directory.apply(msg)
    assert not directory.apply(msg)


def test_a_gap_forgets_the_origin_and_an_unknown_origin_waits_for_its_whole_set() -> None:
    directory = d.Directory()
    assert directory.apply(d.Announce("a", 7, [(EVENT, "x.example")]))  # unknown: ignored
    assert not directory.knows("a") and directory.queues_for(FIRED) is None
    directory.apply(d.Announce("a", 1, [(EVENT, "x.example")], full=True))
    assert directory.apply(d.Announce("a", 3, [(OTHER, "x.example")]))  # seq 2 was lost
    assert not directory.knows("a") and directory.queues_for(FIRED) is None


def test_unqueued_subscribers_make_the_count_unknown() -> None:
    directory = d.Directory()
    directory.apply(d.Announce("a", 0, [(EVENT, "files.example"), (EVENT, "")], full=True))
    assert directory.queues_for(FIRED) is None


def test_bounds_hold_against_a_flood() -> None:
    directory = d.Directory()
    for i in range(d.MAX_ORIGINS + 10):
        directory.apply(d.Announce(f"o{i}", 0, [(EVENT, "q.example")], full=True))
    assert sum(directory.knows(f"o{i}") for i in range(d.MAX_ORIGINS + 10)) == d.MAX_ORIGINS
    big = [(f"p.417.s{i}.|.POST._", "q") for i in range(d.MAX_ENTRIES + 5)]
    directory.apply(d.Announce("o0", 1, big, full=True))
    directory.apply(d.Announce("o0", 2, [("p.417.more.|.POST._", "q")]))
    assert len(directory._entries["o0"]) == d.MAX_ENTRIES


@given(st.binary(max_size=200))
def test_garbage_never_raises(data: bytes) -> None:
    msg = d.decode_announce(data)
    assert msg is None or isinstance(msg, d.Announce)


def test_round_trip() -> None:
    msg = d.Announce("a", 5, [(EVENT, "f")], [(OTHER, "")], full=False, hello=True)
    assert d.decode_announce(d.encode_announce(msg)) == msg
