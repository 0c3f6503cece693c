"""Who subscribes to what, across processes (pure): the announcements and the directory they build.

Every process announces its handler subscriptions, as ``(subject, queue)`` pairs, on the
announce subject: its whole set in answer to a ``hello`` (sent by a process that starts), then
each change as a delta with a sequence number. The `Directory` built from them tells a gather,
before its first event, which queues (sink hosts) will answer, so it can end as soon as they
have replied instead of waiting out the ack window.

Announcements are hints, never trusted for correctness: a queue that the directory lists but
that does not answer only costs the ack window, a sink the directory does not know yet is
still counted when it acks, and any change makes gathers in flight fall back to the full
window. Sizes are bounded so that a hostile peer cannot make a process hold unbounded memory.
"""

from __future__ import annotations

from typing import Final

import msgspec

from .subjects import matches

__all__ = [
    "MAX_ENTRIES",
    "MAX_ORIGINS",
    "Announce",
    "Directory",
    "decode_announce",
    "encode_announce",
]

#: Bounds on what peers can make one process hold.
MAX_ORIGINS: Final = 4096
MAX_ENTRIES: Final = 65536

Entry = tuple[str, str]  # (subscription subject, queue); queue "" = no queue group


class Announce(msgspec.Struct, omit_defaults=True, array_like=True):
    """One process's subscriptions: the whole set (``full``) or a change since ``seq - 1``."""

    origin: str
    seq: int
    added: list[Entry] = []
    removed: list[Entry] = []
    full: bool = False
    hello: bool = False  # "I just started: everyone, announce your whole set"
    gone: list[str] = []  # instances that died (a supervisor saw their worker exit); no change


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Announce)


def encode_announce(announce: Announce) -> bytes:
    return _encoder.encode(announce)


def decode_announce(data: bytes) -> Announce | None:
    """Bytes → announcement; None for anything malformed (announcements are only hints)."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class Directory:
    """``(subject, queue)`` pairs per announcing process, and the queues expected per subject."""

    __slots__ = ("_cache", "_entries", "_seq")

    def __init__(self) -> None:
        self._entries: dict[str, set[Entry]] = {}
        self._seq: dict[str, int] = {}
        self._cache: dict[str, frozenset[str] | None] = {}

    def apply(self, msg: Announce) -> bool:
        """Take an announcement in; True when the directory changed (or may have: a gap)."""
        if msg.gone:
            return False  # news about instances, not about subscriptions
        origin = msg.origin
        if msg.full:
            if origin not in self._entries and len(self._entries) >= MAX_ORIGINS:
                return False
            entries = set(msg.added[:MAX_ENTRIES])
            changed = self._entries.get(origin) != entries
            if entries:
                self._entries[origin] = entries
            else:
                self._entries.pop(origin, None)
            self._seq[origin] = msg.seq
            if changed:
                self._cache.clear()
            return changed
        last = self._seq.get(origin)
        if last is None:
            return True  # an origin not known yet: its whole set is on its way (hello answer)
        if msg.seq != last + 1:
            # A delta we cannot place: what we know of that origin is stale. Forget it until
            # its next full announcement (the caller asks for one).
            self.forget(origin)
            return True
        self._seq[origin] = msg.seq
        entries = self._entries.setdefault(origin, set())
        entries.difference_update(msg.removed)
        room = MAX_ENTRIES - len(entries)
        if room > 0:
            entries.update(msg.added[:room])
        if not entries:
            del self._entries[origin]
        self._cache.clear()
        return True

    def forget(self, origin: str) -> None:
        self._entries.pop(origin, None)
        self._seq.pop(origin, None)
        self._cache.clear()

    def knows(self, origin: str) -> bool:
        return origin in self._seq

    def queues_for(self, subject: str) -> frozenset[str] | None:
        """Queues that will each answer a multicast on ``subject``; None when unknown.

        None also when a subscription without a queue group matches: each of its members
        answers, so counting queues would end the gather too early.
        """
        try:
            return self._cache[subject]
        except KeyError:
            pass
        queues: set[str] = set()
        unqueued = False
        for entries in self._entries.values():
            for pattern, queue in entries:
                if matches(pattern, subject):
                    if queue:
                        queues.add(queue)
                    else:
                        unqueued = True
        result = None if unqueued or not queues else frozenset(queues)
        if len(self._cache) < MAX_ENTRIES:
            self._cache[subject] = result
        return result
