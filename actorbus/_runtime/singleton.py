"""Singleton tickers: a beat runs only on the replica that holds the (host, ticker) lease.

On NATS the lease is a JetStream key-value entry with a per-message TTL of `lease_ttl` (3
intervals, whole seconds): a replica runs a beat only after a compare-and-set write of the
entry succeeded, renews it every beat, and releases it when it stops. Only the server's clock
expires an entry, so replicas never compare clocks; the holder, which measures on its own
monotonic clock from before it sent the write, treats the lease as lost at `VALID_SHARE` of the
TTL and cancels a beat still running then. A replica that cannot reach the bucket runs no beat.
On the memory bus (one process) the first replica to ask holds the lease until it stops.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Iterable
from typing import Final, Protocol

import trio

from .._transport.base import Transport, TransportError
from .._transport.jetstream import JetStream, JetStreamError
from .._transport.kv import LeaseBucket, LeaseLost
from .._wire import jetstream as _js
from .._wire import leases as _leases
from .declarations import TickerSpec
from .errors import BusError

__all__ = ["Lease", "Leases", "open_leases"]

log = logging.getLogger("actorbus.singleton")

#: The holder counts its lease as valid for this share of the TTL after sending the write.
VALID_SHARE: Final = 0.9
RELEASE_TIMEOUT: Final = 1.0


class Lease(Protocol):
    async def hold(self) -> float | None:
        """Trio time until which this instance holds the lease (renewed now), or None."""

    async def release(self) -> None:
        """Give the lease up at once (graceful stop) so another replica takes the next beat."""


#: memory bus → {(plane, host, ticker): instance}: one holder per process.
_LOCAL: weakref.WeakKeyDictionary[Transport, dict[tuple[str, str, str], str]] = (
    weakref.WeakKeyDictionary()
)


class LocalLease:
    """The memory bus's lease: held by the first replica of the process that asks."""

    def __init__(self, transport: Transport, key: tuple[str, str, str], instance: str) -> None:
        self._held = _LOCAL.setdefault(transport, {})
        self._key, self._instance = key, instance

    async def hold(self) -> float | None:
        holder = self._held.setdefault(self._key, self._instance)
        return math.inf if holder == self._instance else None

    async def release(self) -> None:
        if self._held.get(self._key) == self._instance:
            del self._held[self._key]


class BusLease:
    """One (host, ticker) lease in the plane's bucket, as seen by one instance."""

    def __init__(self, bucket: LeaseBucket, host: str, instance: str, spec: TickerSpec) -> None:
        self._bucket, self._instance, self._name = bucket, instance, spec.name
        self.subject = _leases.key_subject(bucket.plane, host, spec.name)
        self.ttl = _leases.lease_ttl(spec.interval)
        self._record = _leases.record(instance, self.ttl)
        self._seq = 0  # the entry this instance last wrote (0: it holds none)
        self._warned = False

    async def hold(self) -> float | None:
        timeout = self.ttl * VALID_SHARE
        try:
            if self._seq:
                sent = trio.current_time()
                try:
                    self._seq = await self._put(self._seq, timeout)
                    return sent + timeout
                except LeaseLost:
                    self._seq = 0
            entry = await self._bucket.get(self.subject, timeout)
            if entry is not None and entry.holder and entry.holder != self._instance:
                return None
            sent = trio.current_time()
            self._seq = await self._put(entry.seq if entry else 0, timeout)
        except LeaseLost:
            return None
        except (JetStreamError, TransportError) as exc:
            if not self._warned:
                log.warning("ticker %s: lease %s unavailable: %s", self._name, self.subject, exc)
            self._warned = True
            return None
        if self._warned:
            log.info("ticker %s: lease %s reachable again", self._name, self.subject)
        self._warned = False
        return sent + timeout

    async def _put(self, expected: int, timeout: float) -> int:
        return await self._bucket.put(
            self.subject, self._record, expected, self.ttl, timeout, delete=False
        )

    async def release(self) -> None:
        seq, self._seq = self._seq, 0
        if not seq:
            return
        try:
            await self._bucket.put(self.subject, b"", seq, self.ttl, RELEASE_TIMEOUT, delete=True)
        except (JetStreamError, TransportError) as exc:  # it expires on its own
            log.debug("ticker %s: lease not released: %s", self._name, exc)


class Leases:
    """The singleton tickers' leases of one actor instance (and the client they share)."""

    def __init__(self, leases: dict[str, Lease], js: JetStream | None = None) -> None:
        self._leases = leases
        self._js = js

    def get(self, ticker: str) -> Lease | None:
        """The lease of a singleton ticker; None for any other ticker."""
        return self._leases.get(ticker)

    async def aclose(self) -> None:
        """Release every lease (shielded: a stopping actor still hands its beats over)."""
        with trio.CancelScope(shield=True):
            for lease in self._leases.values():
                await lease.release()
            if self._js is not None:
                await self._js.aclose()


async def open_leases(
    transport: Transport, plane: str, host: str, instance: str, specs: Iterable[TickerSpec]
) -> Leases:
    """The leases of ``specs``' singleton tickers; `BusError` (one line) when the bus offers
    none: a NATS server without JetStream, or a transport without it."""
    singles = [spec for spec in specs if spec.singleton]
    if not singles:
        return Leases({})
    if transport.durable_mode == "live":
        return Leases(
            {s.name: LocalLease(transport, (plane, host, s.name), instance) for s in singles}
        )
    if transport.durable_mode != "jetstream":
        # The transport's line for durable sinks holds for leases too (same JetStream client).
        refusal = transport.durable_refusal.replace("durable sinks", "singleton tickers")
        raise BusError(f"{host}: {refusal}")
    js = JetStream(transport, f"{_js.inbox_prefix(plane, host, instance)}.kv")
    await js.start()
    bucket = LeaseBucket(js, plane)
    try:
        await bucket.setup()
    except JetStreamError as exc:
        await js.aclose()
        raise BusError(f"{host}: {exc}") from None
    return Leases({s.name: BusLease(bucket, host, instance, s) for s in singles}, js)
