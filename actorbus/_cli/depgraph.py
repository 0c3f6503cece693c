"""The dependency graph between hosts, as data: direct calls (caller → callee) and events
(source → sink), every elementary cycle of direct calls, and its text and DOT renderings. Pure.

Events never make a cycle a problem: a sink depends on its source, the source knows no sink.
Direct calls that go round (a → b → a) are the coupling that events exist to avoid, so each
such cycle is named. A host calling itself is not a dependency between services: no cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DepGraph", "EdgeKind"]

EdgeKind = Literal["call", "event"]


@dataclass
class DepGraph:
    """Hosts and the labelled edges between them; ``seen`` says where each edge was learnt."""

    hosts: set[str] = field(default_factory=set)
    #: (from, to, kind) → labels (endpoint or event names, or paths)
    edges: dict[tuple[str, str, EdgeKind], set[str]] = field(default_factory=dict)
    seen: dict[tuple[str, str, EdgeKind], set[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_host(self, host: str) -> None:
        self.hosts.add(host)

    def add(self, src: str, dst: str, kind: EdgeKind, label: str = "", how: str = "") -> None:
        """An edge ``src → dst``: for events ``src`` is the source and ``dst`` the sink."""
        self.hosts |= {src, dst}
        labels = self.edges.setdefault((src, dst, kind), set())
        if label:
            labels.add(label)
        if how:
            self.seen.setdefault((src, dst, kind), set()).add(how)

    def cycles(self) -> list[list[str]]:
        """Every elementary cycle of direct calls, each starting at its smallest host, sorted."""
        succ: dict[str, set[str]] = {}
        for src, dst, kind in self.edges:
            if kind == "call" and src != dst:
                succ.setdefault(src, set()).add(dst)
        found: list[list[str]] = []
        for start in sorted(succ):
            # Only cycles whose smallest host is ``start``: each cycle is found exactly once.
            stack: list[tuple[str, list[str]]] = [(start, [start])]
            while stack:
                node, path = stack.pop()
                for nxt in sorted(succ.get(node, ())):
                    if nxt == start:
                        found.append(path)
                    elif nxt > start and nxt not in path:
                        stack.append((nxt, [*path, nxt]))
        return sorted(found)

    def _cycle_edges(self) -> set[tuple[str, str]]:
        out = set()
        for cycle in self.cycles():
            out |= set(zip(cycle, [*cycle[1:], cycle[0]], strict=True))
        return out

    def _sorted_edges(self) -> Iterable[tuple[tuple[str, str, EdgeKind], set[str]]]:
        return sorted(self.edges.items(), key=lambda item: (item[0][2], item[0][0], item[0][1]))

    def to_text(self) -> str:
        """One line per edge, then the cycles (or that there are none)."""
        lines = [f"hosts: {', '.join(sorted(self.hosts)) or 'none'}"]
        in_cycle = self._cycle_edges()
        width = max((len(s) + len(d) for s, d, _ in self.edges), default=0) + 4
        for (src, dst, kind), labels in self._sorted_edges():
            arrow = f"{src} -> {dst}"
            what = "calls" if kind == "call" else "event"
            text = f"  {arrow:<{width}} {what} {', '.join(sorted(labels))}".rstrip()
            how = self.seen.get((src, dst, kind))
            if how:
                text += f"  ({', '.join(sorted(how))})"
            if kind == "call" and (src, dst) in in_cycle:
                text += "  [cycle]"
            lines.append(text)
        cycles = self.cycles()
        if cycles:
            for cycle in cycles:
                lines.append(f"cycle of direct calls: {' -> '.join([*cycle, cycle[0]])}")
        else:
            lines.append("no cycle of direct calls")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dot(self) -> str:
        """Graphviz DOT: calls solid, events dashed, edges on a cycle of calls red."""
        in_cycle = self._cycle_edges()
        lines = ["digraph actorbus {", "  rankdir=LR;", "  node [shape=box];"]
        lines += [f"  {_q(host)};" for host in sorted(self.hosts)]
        for (src, dst, kind), labels in self._sorted_edges():
            attrs = [
                f"label={_q(('event: ' if kind == 'event' else '') + ', '.join(sorted(labels)))}"
            ]
            if kind == "event":
                attrs.append("style=dashed")
            elif (src, dst) in in_cycle:
                attrs.append("color=red")
            lines.append(f"  {_q(src)} -> {_q(dst)} [{', '.join(attrs)}];")
        for i, cycle in enumerate(self.cycles(), 1):
            lines.append(f"  // cycle {i}: {' -> '.join([*cycle, cycle[0]])}")
        lines.append("}")
        return "\n".join(lines)


def _q(text: str) -> str:
    return json.dumps(text)
