"""The directory built from announcements (pure): deltas, gaps, bounds, expected queues."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actorbus._wire import directory as d
from actorbus._wire.subjects import request_subject, subscription_subject

EVENT = subscription_subject("p", 417, "users.example", "POST", "/on-user-deleted")
FIRED = request_subject(
    "p", 417, "users.example", "POST", "/on-user-deleted", source="users.example"
)
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
    big = [(f"p.417.x.s{i}.|.POST._", "q") for i in range(d.MAX_ENTRIES + 5)]
    directory.apply(d.Announce("o0", 1, big, full=True))
    directory.apply(d.Announce("o0", 2, [("p.417.x.more.|.POST._", "q")]))
    assert len(directory._entries["o0"]) == d.MAX_ENTRIES


@given(st.binary(max_size=200))
def test_garbage_never_raises(data: bytes) -> None:
    msg = d.decode_announce(data)
    assert msg is None or isinstance(msg, d.Announce)


def test_round_trip() -> None:
    msg = d.Announce("a", 5, [(EVENT, "f")], [(OTHER, "")], full=False, hello=True)
    assert d.decode_announce(d.encode_announce(msg)) == msg


def test_origins_and_their_sequence_numbers_are_bounded() -> None:
    """Forged origins with empty whole sets used to leave one sequence number each, for ever."""
    directory = d.Directory(pinned="me")
    directory.apply(d.Announce("me", 0, [(EVENT, "own.example")], full=True))
    for i in range(3 * d.MAX_ORIGINS):
        directory.apply(d.Announce(f"forged{i}", 0, [], full=True))
        directory.apply(d.Announce(f"forged{i}", 1, [(OTHER, "x")]))
    origins, entries = directory.size
    assert origins == d.MAX_ORIGINS and entries <= d.MAX_ORIGINS
    assert directory.evicted == 2 * d.MAX_ORIGINS + 1
    assert directory.knows("me") and directory.queues_for(FIRED) == {"own.example"}
    assert not directory.knows("forged0") and directory.knows(f"forged{3 * d.MAX_ORIGINS - 1}")


def test_the_least_recently_heard_origin_makes_room() -> None:
    directory = d.Directory()
    for i in range(d.MAX_ORIGINS):
        directory.apply(d.Announce(f"o{i}", 0, [], full=True))
    directory.apply(d.Announce("o0", 1, [(EVENT, "q.example")]))  # o0 is heard again
    directory.apply(d.Announce("new", 0, [], full=True))
    assert directory.knows("o0") and not directory.knows("o1") and directory.knows("new")


def test_entries_are_bounded_in_all() -> None:
    directory = d.Directory()
    per_origin = d.MAX_ENTRIES
    for o in range(4):
        added = [(f"p.417.x.s{o}x{i}.|.POST._", "q") for i in range(per_origin)]
        directory.apply(d.Announce(f"o{o}", 0, added, full=True))
    directory.apply(d.Announce("o3", 1, [("p.417.x.more.|.POST._", "q")]))
    assert directory.size[1] == d.MAX_TOTAL_ENTRIES
    assert sum(len(e) for e in directory._entries.values()) == d.MAX_TOTAL_ENTRIES
    directory.forget("o0")  # forgetting gives the room back
    assert directory.size[1] == d.MAX_TOTAL_ENTRIES - per_origin
    directory.apply(d.Announce("o3", 2, [(f"p.417.x.back{i}.|.POST._", "q") for i in range(9)]))
    assert directory.size[1] == d.MAX_TOTAL_ENTRIES - per_origin + 9


def test_hello_answers_are_rate_limited() -> None:
    directory = d.Directory()
    answered = sum(directory.answer_hello(100.0) for _ in range(1000))
    assert answered == d.HELLO_BURST
    assert directory.hellos_refused == 1000 - d.HELLO_BURST
    assert directory.answer_hello(100.0 + 1 / d.HELLO_RATE)  # one token back
    assert not directory.answer_hello(100.0 + 1 / d.HELLO_RATE)
    assert sum(directory.answer_hello(1000.0) for _ in range(100)) == d.HELLO_BURST  # capped


def test_forgetting_an_origin_with_entries_is_a_change() -> None:
    directory = d.Directory()
    directory.apply(d.Announce("o0", 0, [(EVENT, "q.example")], full=True))
    for i in range(1, d.MAX_ORIGINS):
        assert not directory.apply(d.Announce(f"o{i}", 0, [], full=True))
    assert directory.queues_for(FIRED) == {"q.example"}
    assert directory.apply(d.Announce("new", 0, [], full=True))  # o0 made room: a change
    assert directory.queues_for(FIRED) is None
    assert not directory.apply(d.Announce("newer", 0, [], full=True))  # o1 had nothing
