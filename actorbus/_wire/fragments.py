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

__all__ = [
    "FIRST_PIECE",
    "FRAME_SLACK",
    "MIN_CHUNK",
    "Assembly",
    "Pieces",
    "check_first",
    "payload",
    "split",
]

#: Room for a frame's routing fields on top of its body: a set may declare this much more
#: than the body limit.
FRAME_SLACK: Final = 64 * 1024
#: The smallest piece worth sending (a server limit below this cannot carry fragments).
MIN_CHUNK: Final = 256
#: The most the first piece carries: only it waits for the receiver's ack.
FIRST_PIECE: Final = 64 * 1024
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


class Pieces:
    """``data`` (``frame`` encoded, longer than ``max_payload``) as `Fragment` frames sent by
    ``host``, each at most ``max_payload`` bytes, made one at a time (`piece`), so that a
    sender can write each while it makes the next. Raises ValueError when ``max_payload`` is
    too small to carry any."""

    __slots__ = ("_bounds", "_data", "_head")

    def __init__(self, data: bytes, max_payload: int, frame: _frames.Frame, host: str) -> None:
        size = len(data)
        self._head = (frame.msg_id, host, frame.from_instance, frame.token)
        probe = _frames.Fragment(*self._head, size, size, size, msgspec.Raw(_EMPTY_BIN))
        overhead = len(_frames.encode(probe)) + 8  # bin32's length prefix, with room to spare
        chunk = max_payload - overhead
        if chunk < MIN_CHUNK:
            raise ValueError(f"a max_payload of {max_payload} bytes is too small to fragment")
        # A small first piece: its receiver acks sooner, and the rest streams behind the ack.
        first = min(chunk, FIRST_PIECE)
        self._bounds = [0, *range(first, size, chunk), size]
        self._data = memoryview(data)

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def piece(self, index: int) -> bytes:
        """Piece ``index``, encoded (one copy of its part)."""
        part = self._data[self._bounds[index] : self._bounds[index + 1]]
        head = _frames.encode(
            _frames.Fragment(
                *self._head, index, len(self), len(self._data), msgspec.Raw(_EMPTY_BIN)
            )
        )
        # The head ends with an empty bin: swap it for a bin32 of the part.
        return b"".join((head[:-2], b"\xc6", len(part).to_bytes(4, "big"), part))


def split(data: bytes, max_payload: int, frame: _frames.Frame, host: str) -> list[bytes]:
    """Every piece of `Pieces` at once."""
    pieces = Pieces(data, max_payload, frame, host)
    return [pieces.piece(i) for i in range(len(pieces))]


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
