"""Route patterns (pure), property-tested: a path fits a pattern exactly when its request
subject matches the pattern's subscription, so choosing a route never outruns the subject."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorbus._wire import routes
from actorbus._wire import subjects as subj

segment = st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1, max_size=8)
literal = st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)


@st.composite
def pattern_and_path(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    kinds = draw(st.lists(st.sampled_from(["lit", "one"]), min_size=1, max_size=4))
    greedy = draw(st.booleans())
    parts, path, args = [], [], {}
    for i, kind in enumerate(kinds):
        if kind == "lit":
            text = draw(literal)
            parts.append(text)
            path.append(text)
        else:
            value = draw(segment)
            parts.append(f"{{p{i}}}")
            path.append(value)
            args[f"p{i}"] = value
    if greedy:
        rest = draw(st.lists(segment, min_size=1, max_size=3))
        parts.append("{rest...}")
        path.extend(rest)
        args["rest"] = "/".join(rest)
    return "/" + "/".join(parts), "/" + "/".join(path), args


@given(pattern_and_path())
def test_a_fitting_path_gives_its_arguments_and_matches_the_subscription(
    case: tuple[str, str, dict[str, str]],
) -> None:
    pattern, path, args = case
    assert routes.match_path(pattern, path) == args
    assert routes.fill_path(pattern, args) == path
    sub = subj.subscription_subject("p", 443, "h.example", "GET", pattern)
    assert subj.matches(
        sub, subj.request_subject("p", 443, "h.example", "GET", path, source="c.example")
    )


@given(pattern_and_path(), st.lists(segment, min_size=0, max_size=5))
def test_a_path_that_does_not_fit_is_never_dispatched(
    case: tuple[str, str, dict[str, str]], other: list[str]
) -> None:
    pattern, _, _ = case
    path = "/" + "/".join(other)
    route = ("h.example", 443, "GET", pattern)
    fields = ("h.example", 443, "GET", path)
    subject = subj.request_subject("p", 443, "h.example", "GET", path, source="c.example")
    chosen = routes.dispatch({route: None}, fields, subject, "p", "c.example")
    assert (chosen is not None) == (routes.match_path(pattern, path) is not None)


def test_a_frame_must_claim_its_own_subject() -> None:
    route = ("h.example", 0, "ANY", "/items/{id}")
    subject = subj.request_subject("p", 443, "h.example", "GET", "/items/2", source="c.example")
    assert routes.dispatch(
        {route: None}, ("h.example", 443, "GET", "/items/2"), subject, "p", "c.example"
    )
    for forged in [
        ("h.example", 443, "GET", "/items/1"),  # another path than the subject's
        ("h.example", 444, "GET", "/items/2"),  # another port
        ("h.example", 443, "PUT", "/items/2"),  # another method
        ("g.example", 443, "GET", "/items/2"),  # another host
    ]:
        assert routes.dispatch({route: None}, forged, subject, "p", "c.example") is None, forged
    good = ("h.example", 443, "GET", "/items/2")
    assert routes.dispatch({route: None}, good, subject, "p", "d.example") is None  # another caller


@pytest.mark.parametrize("bad", ["/a/x{id}", "/a/{}", "/{r...}/x", "/{a}/{a}", "/{1x}", "/a}"])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        routes.parse_pattern(bad)
