"""Leases in a JetStream key-value bucket: read a key, write it compare-and-set with a TTL.

The bucket's stream keeps one entry per key (`_wire.leases`); an entry carries its own TTL
(``Nats-TTL``), so the server removes a lease nobody renews. Every write names the sequence it
expects the key to be at (0: no entry), so of two writers racing for a key exactly one wins.
"""

from __future__ import annotations

from typing import Final

from .._wire import leases as _leases
from .jetstream import JetStream, JetStreamError, JetStreamUnavailable

__all__ = ["NO_JETSTREAM_LEASES", "LeaseBucket", "LeaseLost"]

NO_JETSTREAM_LEASES: Final = "singleton tickers need JetStream: start nats-server with -js"
NO_MSG_TTL: Final = (
    "singleton tickers need per-message TTLs in JetStream (nats-server 2.11 or later)"
)


class LeaseLost(JetStreamError):
    """A compare-and-set write found the key at another sequence: someone else wrote it."""


class LeaseBucket:
    """The plane's lease bucket through one JetStream client."""

    def __init__(self, js: JetStream, plane: str, replicas: int = 3) -> None:
        self.js = js
        self.plane = plane
        self.stream = _leases.stream(plane)
        self._replicas = replicas

    async def setup(self) -> None:
        """Create the bucket (idempotent); one-line `JetStreamError` when it cannot serve."""
        try:
            info = await self.js.ensure_stream(_leases.bucket_config(self.plane, self._replicas))
        except JetStreamUnavailable:
            raise JetStreamError(NO_JETSTREAM_LEASES) from None
        if not (info.get("config") or {}).get("allow_msg_ttl"):
            raise JetStreamError(NO_MSG_TTL)

    async def get(self, subject: str, timeout: float) -> _leases.Entry | None:
        """The key's entry now, or None when it has none (never written, expired)."""
        msg = await self.js.request_message(
            f"$JS.API.DIRECT.GET.{self.stream}.{subject}", b"", timeout=timeout
        )
        try:
            return _leases.parse_direct_get(msg.headers, msg.data)
        except ValueError as exc:
            raise JetStreamError(f"lease {subject}: {exc}") from None

    async def put(
        self, subject: str, data: bytes, expected: int, ttl: int, timeout: float, *, delete: bool
    ) -> int:
        """Write the key if it is still at sequence ``expected``; its new sequence. `LeaseLost`
        when another write came first."""
        headers = {_leases.EXPECTED_SEQ_HEADER: str(expected), _leases.TTL_HEADER: f"{ttl}s"}
        if delete:
            headers[_leases.OPERATION_HEADER] = "DEL"
        try:
            ack = await self.js.request(subject, data, headers=headers, timeout=timeout)
        except JetStreamError as exc:
            if exc.err_code == _leases.WRONG_LAST_SEQUENCE:
                raise LeaseLost(str(exc), exc.err_code) from None
            raise
        seq = ack.get("seq")
        if not isinstance(seq, int) or seq < 1 or ack.get("stream") != self.stream:
            raise JetStreamError(f"lease {subject}: unexpected acknowledgement {ack!r:.80}")
        return seq
