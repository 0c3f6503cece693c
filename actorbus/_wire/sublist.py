"""Subscriptions indexed by subject pattern (pure): matching costs the subject's depth, not the
number of subscriptions (the shape of nats-server's own "sublist").

Patterns follow NATS: ``*`` matches one token, a final ``>`` one or more tokens.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Sublist"]

T = TypeVar("T")


class _Node(Generic[T]):
    __slots__ = ("children", "items", "rest", "star")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.star: _Node[T] | None = None
        self.rest: list[T] = []  # patterns ending in ``>`` at this depth
        self.items: list[T] = []  # patterns ending exactly here

    def empty(self) -> bool:
        return not (self.children or self.star or self.rest or self.items)


class Sublist(Generic[T]):
    """``insert(pattern, item)``, ``remove(pattern, item)``, ``match(subject)`` → items."""

    __slots__ = ("_root", "count")

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self.count = 0

    def insert(self, pattern: str, item: T) -> None:
        node = self._root
        tokens = pattern.split(".")
        last = len(tokens) - 1
        for i, token in enumerate(tokens):
            if token == ">" and i == last:
                node.rest.append(item)
                self.count += 1
                return
            if token == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                child = node.children.get(token)
                if child is None:
                    child = node.children[token] = _Node()
                node = child
        node.items.append(item)
        self.count += 1

    def remove(self, pattern: str, item: T) -> bool:
        """Remove one entry of ``item`` under ``pattern``; False when it was not there."""
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        tokens = pattern.split(".")
        last = len(tokens) - 1
        for i, token in enumerate(tokens):
            if token == ">" and i == last:
                bucket = node.rest
                break
            nxt = node.star if token == "*" else node.children.get(token)
            if nxt is None:
                return False
            path.append((node, token))
            node = nxt
        else:
            bucket = node.items
        for j, entry in enumerate(bucket):
            if entry is item:
                del bucket[j]
                break
        else:
            return False
        self.count -= 1
        while path and node.empty():  # prune the branch left empty
            parent, token = path.pop()
            if token == "*":
                parent.star = None
            else:
                del parent.children[token]
            node = parent
        return True

    def match(self, subject: str) -> list[T]:
        out: list[T] = []
        _match(self._root, subject.split("."), 0, out)
        return out


def _match(node: _Node[T], tokens: list[str], i: int, out: list[T]) -> None:
    n = len(tokens)
    while True:
        if node.rest and i < n:
            out.extend(node.rest)
        if i == n:
            out.extend(node.items)
            return
        if node.star is not None:
            _match(node.star, tokens, i + 1, out)
        child = node.children.get(tokens[i])
        if child is None:
            return
        node, i = child, i + 1
