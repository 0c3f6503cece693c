"""The tracer's memory: the last N spans, replayed to a client that attaches later, so calls
made before a page was opened (or ``actorbus trace`` started) still show.

Bounded: a ring of at most N spans (default `DEFAULT_HISTORY`); older ones fall off. A tracer
with a history listens all the time, so the actors publish spans even while nobody watches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from .._observe.spans import Span

__all__ = ["DEFAULT_HISTORY", "MAX_HISTORY", "History"]

#: Spans an ``actorbus run`` or ``actorbus tracer`` remembers (``--trace-history N``).
DEFAULT_HISTORY: Final = 1000
#: The most it may be asked to remember.
MAX_HISTORY: Final = 100_000


class History:
    """A ring of the last ``size`` spans (``size`` 0: remembers nothing)."""

    def __init__(self, size: int) -> None:
        if not 0 <= size <= MAX_HISTORY:
            raise ValueError(f"the tracer's history must be 0..{MAX_HISTORY} spans, got {size}")
        self.size = size
        self._spans: deque[Span] = deque(maxlen=size or 1)

    def add(self, spans: Iterable[Span]) -> None:
        if self.size:
            self._spans.extend(spans)

    def replay(self, wants: Callable[[Span], bool], limit: int) -> list[Span]:
        """The remembered spans that ``wants`` accepts, oldest first, at most ``limit`` (the
        newest ones when there are more)."""
        if not self.size:
            return []
        chosen = [span for span in self._spans if wants(span)]
        return chosen[-limit:] if limit > 0 else []

    def __len__(self) -> int:
        return len(self._spans) if self.size else 0
