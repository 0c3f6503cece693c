"""Fragmenting frames past the server's ``max_payload``, and putting them together (pure).

`split` cuts an encoded frame into `Fragment` frames that each fit; `Assembly` collects one
set. Every piece a peer sends is checked before it costs memory: a set declares its size up
front (the receiver reserves it, or refuses the set), no piece may carry more than that size
leaves, a repeated index is ignored, and a set is whole only when every index arrived and the
bytes add up to the declared size.
"""

from __future__ import annotations

from typing import Final

import msgspec

from . import frames as _frames

__all__ = ["FRAME_SLACK", "MIN_CHUNK", "Assembly", "check_first", "payload", "split"]

#: Room for a frame's routing fields on top of its body: a set may declare this much more
#: than the body limit.
FRAME_SLACK: Final = 64 * 1024
#: The smallest piece worth sending (a server limit below this cannot carry fragments).
MIN_CHUNK: Final = 256
_EMPTY_BIN: Final = b"\xc4\x00"  # msgpack bin8 of no bytes: the last thing a piece's head holds
_BIN_HEAD: Final = {0xC4: 2, 0xC5: 3, 0xC6: 5}  # bin8/16/32: header length


def payload(data: msgspec.Raw) -> memoryview | None:
    """The bytes of a piece's ``data`` (a msgpack bin) without copying; None when it is not
    one (a peer's lie)."""
    view = memoryview(data)
    if not view:
        return None
    head = _BIN_HEAD.get(view[0])
    if head is None or len(view) < head:
        return None
    size = int.from_bytes(view[1:head], "big")
    return view[head:] if head + size == len(view) else None


def split(data: bytes, max_payload: int, frame: _frames.Frame, host: str) -> list[bytes]:
    """``data`` (``frame`` encoded, longer than ``max_payload``) as encoded `Fragment` frames
    sent by ``host``, each at most ``max_payload`` bytes. Raises ValueError when
    ``max_payload`` is too small to carry any."""
    msg_id, from_host, from_instance, token = frame.msg_id, host, frame.from_instance, frame.token
    size = len(data)
    probe = _frames.Fragment(
        msg_id, from_host, from_instance, token, size, size, size, msgspec.Raw(_EMPTY_BIN)
    )
    overhead = len(_frames.encode(probe)) + 8  # bin32's length prefix, with room to spare
    chunk = max_payload - overhead
    if chunk < MIN_CHUNK:
        raise ValueError(f"a max_payload of {max_payload} bytes is too small to fragment")
    count = -(-size // chunk)
    view = memoryview(data)
    empty = msgspec.Raw(_EMPTY_BIN)
    pieces = []
    for i in range(count):
        part = view[i * chunk : (i + 1) * chunk]
        head = _frames.encode(
            _frames.Fragment(msg_id, from_host, from_instance, token, i, count, size, empty)
        )
        # The head ends with an empty bin: swap it for a bin32 of the part (one copy).
        pieces.append(b"".join((head[:-2], b"\xc6", len(part).to_bytes(4, "big"), part)))
    return pieces


def check_first(piece: _frames.Fragment, limit: int) -> str:
    """Why the first piece of a set cannot start one ("" when it can): ``limit`` is the
    largest frame this receiver puts together."""
    if piece.index != 0:
        return f"piece {piece.index} of a set that was not started"
    if not 2 <= piece.count <= piece.size:
        return f"a set of {piece.count} pieces for {piece.size} bytes"
    data = payload(piece.data)
    if data is None or not 0 < len(data) < piece.size:
        return f"a first piece of {len(piece.data)} bytes for a set of {piece.size}"
    if not piece.token:
        return "a set without a call token"
    if piece.size > limit:
        return "too large"
    return ""


class Assembly:
    """One set being put together; ``add`` says what a piece did to it."""

    __slots__ = ("count", "parts", "received", "size")

    MORE: Final = "more"
    DONE: Final = "done"
    DUPLICATE: Final = "duplicate"
    INVALID: Final = "invalid"

    def __init__(self, first: _frames.Fragment) -> None:
        self.count = first.count
        self.size = first.size
        data = payload(first.data)
        assert data is not None, "checked by check_first"
        self.parts: list[memoryview | None] = [None] * first.count
        self.parts[0] = data
        self.received = len(data)

    def add(self, piece: _frames.Fragment) -> str:
        """MORE, DONE (every piece is in), DUPLICATE (that index arrived already: ignored) or
        INVALID (the piece contradicts the set: drop the set)."""
        if piece.count != self.count or piece.size != self.size:
            return self.INVALID
        if not 0 <= piece.index < self.count:
            return self.INVALID
        if self.parts[piece.index] is not None:
            return self.DUPLICATE
        data = payload(piece.data)
        if data is None or not data:
            return self.INVALID
        received = self.received + len(data)
        if received > self.size:
            return self.INVALID
        self.parts[piece.index] = data
        self.received = received
        if received < self.size:
            return self.MORE
        return self.DONE if all(p is not None for p in self.parts) else self.INVALID

    def join(self) -> bytes:
        """The whole frame (after DONE)."""
        return b"".join(p for p in self.parts if p is not None)
