"""Singleton-ticker leases as JetStream key-value entries: names, shapes, TTLs (pure).

One bucket per plane (stream ``KV_AB_<plane>_LEASES`` on ``$KV.AB_<plane>_LEASES.>``, one entry
per key), one key per (host, ticker). An entry names the instance that holds it and expires on
the server after its per-message TTL (``Nats-TTL``), so only the server's clock decides when a
dead holder's lease is gone; writes are compare-and-set on the key's last sequence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import subjects as _subjects

__all__ = [
    "EXPECTED_SEQ_HEADER",
    "OPERATION_HEADER",
    "TTL_BEATS",
    "TTL_HEADER",
    "WRONG_LAST_SEQUENCE",
    "Entry",
    "bucket",
    "bucket_config",
    "host_keys",
    "key_subject",
    "lease_ttl",
    "parse_direct_get",
    "record",
    "stream",
]

#: A lease lives this many intervals after its last renewal (at least `MIN_TTL` seconds).
TTL_BEATS: Final = 3
#: nats-server's per-message TTL is whole seconds, at least one.
MIN_TTL: Final = 1
TTL_HEADER: Final = "Nats-TTL"
EXPECTED_SEQ_HEADER: Final = "Nats-Expected-Last-Subject-Sequence"
#: A released lease is a ``DEL`` entry (as the NATS key-value clients write them).
OPERATION_HEADER: Final = "KV-Operation"
#: The PubAck error of a compare-and-set that lost.
WRONG_LAST_SEQUENCE: Final = 10071
_MAX_RECORD: Final = 1024


def bucket(plane: str) -> str:
    return f"AB_{plane}_LEASES"


def stream(plane: str) -> str:
    return f"KV_{bucket(plane)}"


def key_subject(plane: str, host: str, ticker: str) -> str:
    """The subject of one (host, ticker) lease: the host's keys share one prefix (for the ACL)."""
    return f"{host_keys(plane, host)[:-1]}{ticker}"


def host_keys(plane: str, host: str) -> str:
    return f"$KV.{bucket(plane)}.{_subjects.host_token(host)}.*"


def lease_ttl(interval: float) -> int:
    """Whole seconds a lease outlives its last renewal: `TTL_BEATS` intervals, rounded up."""
    return max(MIN_TTL, math.ceil(TTL_BEATS * interval))


def bucket_config(plane: str, replicas: int = 1) -> dict[str, Any]:
    """A key-value bucket of one entry per key whose entries carry their own TTL."""
    name = bucket(plane)
    return {
        "name": stream(plane),
        "subjects": [f"$KV.{name}.>"],
        "retention": "limits",
        "storage": "file",
        "num_replicas": replicas,
        "max_msgs_per_subject": 1,
        "discard": "new",
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
        "allow_msg_ttl": True,
    }


def record(instance: str, ttl: int) -> bytes:
    return json.dumps({"instance": instance, "ttl": ttl}).encode()


@dataclass(frozen=True, slots=True)
class Entry:
    """A key's current entry: its sequence and holder ("" when released or unreadable)."""

    seq: int
    holder: str


def parse_direct_get(headers: Mapping[str, str] | None, data: bytes) -> Entry | None:
    """A direct-get answer as the key's entry; None when the key has none (status 404).
    Raises ValueError for an answer of another shape."""
    headers = headers or {}
    status = headers.get("Status", "")
    if status.startswith("404"):
        return None
    if status:
        raise ValueError(f"direct get answered {status}")
    try:
        seq = int(headers.get("Nats-Sequence", ""))
    except ValueError:
        raise ValueError("direct get answer without Nats-Sequence") from None
    if seq < 1:
        raise ValueError(f"direct get answer with sequence {seq}")
    if headers.get(OPERATION_HEADER) in ("DEL", "PURGE") or len(data) > _MAX_RECORD:
        return Entry(seq, "")
    try:
        doc = json.loads(data)
    except ValueError:
        return Entry(seq, "")
    holder = doc.get("instance") if isinstance(doc, dict) else None
    return Entry(seq, holder if isinstance(holder, str) else "")
