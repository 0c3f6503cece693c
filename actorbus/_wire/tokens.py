"""Call tokens (pure): the caller's secret for one call, 8 random bytes as 16 hex digits.

`secrets.token_hex` costs a system call per token; a pool draws 512 tokens' worth of
``os.urandom`` at once and slices it, so a token costs a slice and a ``hex()``.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["TOKEN_BYTES", "TokenPool"]

TOKEN_BYTES: Final = 8


class TokenPool:
    """Random tokens from a buffer refilled from ``os.urandom`` when spent; each byte of it
    is used once."""

    __slots__ = ("_at", "_buffer", "_size")

    def __init__(self, tokens: int = 512) -> None:
        self._size = tokens * TOKEN_BYTES
        self._buffer = b""
        self._at = 0

    def next(self) -> str:
        at = self._at
        if at >= len(self._buffer):
            self._buffer, at = os.urandom(self._size), 0
        self._at = at + TOKEN_BYTES
        return self._buffer[at : at + TOKEN_BYTES].hex()
