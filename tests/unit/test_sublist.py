"""The subject index (pure) agrees with NATS wildcard matching, and removes cleanly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actorbus._wire.subjects import matches
from actorbus._wire.sublist import Sublist

TOKENS = st.sampled_from(["a", "b", "c", "p", "443"])
SUBJECTS = st.lists(TOKENS, min_size=1, max_size=5).map(".".join)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.one_of(TOKENS, st.just("*")), min_size=1, max_size=5))
    if draw(st.booleans()):
        tokens.append(">")
    return ".".join(tokens)


@given(st.lists(patterns(), max_size=12), st.lists(SUBJECTS, max_size=12))
def test_match_agrees_with_the_wildcard_rules(pats: list[str], subjects: list[str]) -> None:
    index: Sublist[int] = Sublist()
    for i, pattern in enumerate(pats):
        index.insert(pattern, i)
    for subject in subjects:
        expected = sorted(i for i, p in enumerate(pats) if matches(p, subject))
        assert sorted(index.match(subject)) == expected


@given(st.lists(patterns(), max_size=12), st.data())
def test_remove_undoes_insert(pats: list[str], data: st.DataObject) -> None:
    index: Sublist[object] = Sublist()
    items = [object() for _ in pats]
    for pattern, item in zip(pats, items, strict=True):
        index.insert(pattern, item)
    keep = data.draw(st.lists(st.booleans(), min_size=len(pats), max_size=len(pats)))
    for pattern, item, k in zip(pats, items, keep, strict=True):
        if not k:
            assert index.remove(pattern, item)
            assert not index.remove(pattern, item)
    assert index.count == sum(keep)
    for subject in ("a", "a.b", "a.b.c", "p.443.a", "c.c.c.c.c"):
        got = {id(x) for x in index.match(subject)}
        want = {
            id(i) for p, i, k in zip(pats, items, keep, strict=True) if k and matches(p, subject)
        }
        assert got == want


def test_everything_removed_leaves_an_empty_tree() -> None:
    index: Sublist[str] = Sublist()
    for p in ("a.b", "a.*", "a.>", "a.b.c", "*.>"):
        index.insert(p, p)
    for p in ("a.b", "a.*", "a.>", "a.b.c", "*.>"):
        assert index.remove(p, p)
    assert index.count == 0 and index._root.empty()
