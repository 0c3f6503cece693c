"""The dependency graph as data: every elementary cycle of direct calls, once; events and
self-calls never make one; text and DOT name them."""

from __future__ import annotations

from actorbus._cli.depgraph import DepGraph


def test_every_elementary_cycle_of_calls_is_found_once() -> None:
    g = DepGraph()
    for src, dst in [("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "d"), ("a", "a")]:
        g.add(src, dst, "call")
    g.add("d", "a", "event", "on_x")  # an event back to a: no cycle
    assert g.cycles() == [["a", "b"], ["a", "b", "c"]]


def test_no_cycle_without_calls_going_round() -> None:
    g = DepGraph()
    g.add("users", "files", "event", "on_user_deleted")
    g.add("files", "users", "call", "get_user")
    g.add("users", "users", "call", "self_check")
    assert g.cycles() == []
    text = g.to_text()
    assert "no cycle of direct calls" in text
    assert "files -> users" in text and "calls get_user" in text
    assert "[cycle]" not in text


def test_text_and_dot_mark_the_cycle() -> None:
    g = DepGraph()
    g.add("orders", "inventory", "call", "reserve", "declared")
    g.add("inventory", "orders", "call", "price", "observed")
    g.add("orders", "billing", "event", "on_ordered")
    text = g.to_text()
    assert "cycle of direct calls: inventory -> orders -> inventory" in text
    assert text.count("[cycle]") == 2
    assert "(declared)" in text and "(observed)" in text
    dot = g.to_dot()
    assert dot.startswith("digraph actorbus {") and dot.endswith("}")
    assert '"orders" -> "inventory" [label="reserve", color=red];' in dot
    assert '"orders" -> "billing" [label="event: on_ordered", style=dashed];' in dot
    assert "// cycle 1: inventory -> orders -> inventory" in dot
