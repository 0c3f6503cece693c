"""Exception-group helpers shared by every layer (no actorbus imports)."""

from __future__ import annotations

__all__ = ["leaf", "sole_exception"]


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
