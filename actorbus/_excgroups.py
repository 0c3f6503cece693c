"""Exception-group helpers shared by every layer (no actorbus imports)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["leaf", "lone_exception_as_itself", "sole_exception"]


def sole_exception(exc: BaseException) -> BaseException | None:
    """The one exception inside nested single-member groups; None when a group holds several."""
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


def leaf(exc: BaseException) -> BaseException:
    """`sole_exception`, or ``exc`` itself when it holds several: what to show a user."""
    single = sole_exception(exc)
    return exc if single is None else single


@contextmanager
def lone_exception_as_itself() -> Iterator[None]:
    """Let a lone exception out of nurseries as itself, not wrapped in (nested) groups: a
    nursery inside a library is an implementation detail. Real concurrent failures stay a
    group. The exception keeps its own cause, context and traceback."""
    try:
        yield
    except BaseExceptionGroup as group:
        single = sole_exception(group)
        if single is None:
            raise
        context = single.__context__
        try:
            raise single
        finally:
            single.__context__ = context
