"""Publishes that nats-server refused (permissions), seen from the command line.

A refused publish reaches nobody, so a call would end as an `AckTimeout` naming the wrong
problem, with a log line per refusal besides. While a client command runs, the NATS client's
permission lines are held back here; a command that fails after one becomes one line saying
what the server refused and what usually causes it (a ``--plane`` the ACLs do not cover).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from .common import EXIT_BUS, CliError, error

__all__ = ["Refusals", "watch_refusals"]

_LOGGER = "actorbus.nats"


class Refusals(logging.Filter):
    """Keeps (and hides) the NATS client's permission-violation lines."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "permissions violation" not in text.lower():
            return True
        self.seen.append(text)
        return False

    def explain(self, exc: BaseException, plane: str) -> None:
        """Raise the one-line `CliError` (exit 5) for a failure after a refusal; else return."""
        if not self.seen:
            return
        what = self.seen[0].partition(": ")[2] or self.seen[0]
        raise CliError(
            f"the NATS server refused this command: {what} (check --plane, now {plane!r}, "
            "and --credentials against the server's ACLs)",
            EXIT_BUS,
        ) from exc

    def mention(self) -> None:
        """The command worked all the same: one line, not one per refusal."""
        if self.seen:
            first = self.seen[0].partition(": ")[2] or self.seen[0]
            more = f" (and {len(self.seen) - 1} more)" if len(self.seen) > 1 else ""
            error(f"warning: the NATS server refused part of this command: {first}{more}")


@contextmanager
def watch_refusals() -> Iterator[Refusals]:
    refusals = Refusals()
    logger = logging.getLogger(_LOGGER)
    logger.addFilter(refusals)
    try:
        yield refusals
    finally:
        logger.removeFilter(refusals)
