"""Who subscribes to what, across processes (pure): the announcements and the directory they build.

Every process announces its handler subscriptions, as ``(subject, queue)`` pairs, on the
announce subject: its whole set in answer to a ``hello`` (sent by a process that starts), then
each change as a delta with a sequence number. The `Directory` built from them tells a gather,
before its first event, which queues (sink hosts) will answer, so it can end as soon as they
have replied instead of waiting out the ack window.

Announcements are hints, never trusted for correctness: a queue that the directory lists but
that does not answer only costs the ack window, a sink the directory does not know yet is
counted if it acks while the gather still waits, and any change makes gathers in flight fall
back to the full window. Everything a peer can grow is bounded, so that a hostile peer cannot
make a process hold unbounded memory or answer its hellos without end (a gap in an origin's
sequence still makes the hub send a hello of its own each time):

- at most `MAX_ORIGINS` origins (with their sequence numbers); past that the origin heard from
  least recently is forgotten (never the process's own, ``pinned``), so a flood of made-up
  origins costs the real ones their hints, never memory;
- at most `MAX_ENTRIES` entries per origin and `MAX_TOTAL_ENTRIES` in all;
- whole-set answers to ``hello`` through a token bucket (`HELLO_BURST`, `HELLO_RATE` per
  second): a flood of hellos gets a bounded number of answers; the rest are counted in
  ``hellos_refused``. Answers go to everybody, so one answer serves every hello before it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

import msgspec

from .subjects import matches

__all__ = [
    "HELLO_BURST",
    "HELLO_RATE",
    "MAX_ENTRIES",
    "MAX_ORIGINS",
    "MAX_TOTAL_ENTRIES",
    "Announce",
    "Directory",
    "decode_announce",
    "encode_announce",
]

#: Bounds on what peers can make one process hold.
MAX_ORIGINS: Final = 4096
MAX_ENTRIES: Final = 65536
MAX_TOTAL_ENTRIES: Final = 2 * MAX_ENTRIES
#: Whole-set answers to ``hello``: at most this many at once, refilled at this rate a second.
HELLO_BURST: Final = 10
HELLO_RATE: Final = 2.0

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
    """``(subject, queue)`` pairs per announcing process, and the queues expected per subject.
    ``pinned`` (the process's own origin) is never forgotten to make room."""

    __slots__ = (
        "_cache",
        "_entries",
        "_seq",
        "_tokens",
        "_tokens_at",
        "_total",
        "evicted",
        "hellos_refused",
        "pinned",
    )

    def __init__(self, pinned: str | None = None) -> None:
        self.pinned = pinned
        self._entries: dict[str, set[Entry]] = {}
        #: Every origin known, least recently heard first.
        self._seq: OrderedDict[str, int] = OrderedDict()
        self._cache: dict[str, frozenset[str] | None] = {}
        self._total = 0
        self._tokens = float(HELLO_BURST)
        self._tokens_at: float | None = None
        #: Origins forgotten to make room, and hellos left unanswered (counters).
        self.evicted = 0
        self.hellos_refused = 0

    def apply(self, msg: Announce) -> bool:
        """Take an announcement in; True when the directory changed (or may have: a gap)."""
        if msg.gone:
            return False  # news about instances, not about subscriptions
        origin = msg.origin
        if msg.full:
            evicted = self._admit(origin)
            old = self._entries.get(origin, set())
            room = min(MAX_ENTRIES, MAX_TOTAL_ENTRIES - self._total + len(old))
            entries = set(msg.added[: max(room, 0)])
            changed = evicted or old != entries
            self._set(origin, entries)
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
        self._seq.move_to_end(origin)
        entries = self._entries.setdefault(origin, set())
        before = len(entries)
        entries.difference_update(msg.removed)
        self._total -= before - len(entries)
        room = min(MAX_ENTRIES - len(entries), MAX_TOTAL_ENTRIES - self._total)
        if room > 0:
            size = len(entries)
            entries.update(msg.added[:room])
            self._total += len(entries) - size
        if not entries:
            del self._entries[origin]
        self._cache.clear()
        return True

    def answer_hello(self, now: float) -> bool:
        """Whether to answer a ``hello`` received at ``now`` (seconds) with the whole set."""
        if self._tokens_at is not None:
            elapsed = max(now - self._tokens_at, 0.0)
            self._tokens = min(float(HELLO_BURST), self._tokens + elapsed * HELLO_RATE)
        self._tokens_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.hellos_refused += 1
        return False

    def forget(self, origin: str) -> None:
        self._set(origin, set())
        self._seq.pop(origin, None)
        self._cache.clear()

    def _admit(self, origin: str) -> bool:
        """Make ``origin`` the most recently heard; True when the least recent was forgotten
        to make room (the directory changed)."""
        if origin in self._seq:
            self._seq.move_to_end(origin)
            return False
        evicted = False
        while len(self._seq) >= MAX_ORIGINS:
            oldest = next(iter(self._seq))
            if oldest == self.pinned:
                self._seq.move_to_end(oldest)
                oldest = next(iter(self._seq))
            evicted = evicted or bool(self._entries.get(oldest))
            self.forget(oldest)
            self.evicted += 1
        return evicted

    def _set(self, origin: str, entries: set[Entry]) -> None:
        self._total += len(entries) - len(self._entries.get(origin, ()))
        if entries:
            self._entries[origin] = entries
        else:
            self._entries.pop(origin, None)

    @property
    def size(self) -> tuple[int, int]:
        """(origins known, entries held): both bounded."""
        return len(self._seq), self._total

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
