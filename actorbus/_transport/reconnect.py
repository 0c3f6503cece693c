"""Reconnecting like nats.go: backoff that outlives one connection, auth errors that end it.

- `Backoff`: the first round after a connection that was healthy (it stayed up
  ``healthy_after`` seconds) starts at once; every connection that drops sooner makes the next
  wait longer (``wait``, then twice, four and at most eight times that, ±20 % jitter), so a
  server that accepts and then drops the client (a non-auth ``-ERR``, a bad INFO, lame duck)
  is not hammered.
- `AuthMemory`: the same authentication error from the same server twice in a row (on a running
  connection or in a handshake) ends the connection for good with `NatsAuthError`: the
  credentials were revoked or changed, and retrying cannot help.
- `learn_servers`: the cluster's announced servers (INFO ``connect_urls``), at most
  `MAX_LEARNED_SERVERS` of them, with the configured server's credentials and TLS name.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Any, Final

import trio

from .base import TransportError
from .natsconn import (
    ATTEMPT_TIMEOUT,
    HandshakeError,
    Link,
    Options,
    ServerUrl,
    handshake,
    parse_url,
)

__all__ = [
    "MAX_LEARNED_SERVERS",
    "AuthMemory",
    "Backoff",
    "NatsAuthError",
    "learn_servers",
    "reconnect",
]

log = logging.getLogger("actorbus.nats")

#: Servers learned from INFO ``connect_urls`` beyond the configured ones; more are ignored, so
#: a hostile or broken server cannot make the client hold (and try) an unbounded list.
MAX_LEARNED_SERVERS: Final = 32
#: A connection that stays up this long (seconds) resets the backoff.
DEFAULT_HEALTHY_AFTER: Final = 5.0
#: The longest wait between rounds, as a multiple of ``reconnect_wait``.
MAX_BACKOFF_FACTOR: Final = 8


class NatsAuthError(TransportError):
    """A server refused the credentials twice in a row: the connection was given up."""


class Backoff:
    """Waits between reconnect rounds, kept across connections (see the module docstring)."""

    __slots__ = ("_since", "healthy_after", "streak", "wait")

    def __init__(self, wait: float, healthy_after: float = DEFAULT_HEALTHY_AFTER) -> None:
        self.wait = wait
        self.healthy_after = healthy_after
        #: Rounds since the last healthy connection (0: the next round starts at once).
        self.streak = 0
        self._since = 0.0

    def connected(self, now: float) -> None:
        self._since = now

    def dropped(self, now: float) -> None:
        """The connection adopted at `connected` is gone; healthy if it lasted."""
        if now - self._since >= self.healthy_after:
            self.streak = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next round, and count that round."""
        streak, self.streak = self.streak, self.streak + 1
        if streak == 0:
            return 0.0
        factor: int = min(2 ** (streak - 1), MAX_BACKOFF_FACTOR)
        return self.wait * factor * random.uniform(0.8, 1.2)


def is_auth_error(text: str) -> bool:
    """A server ``-ERR`` about credentials (violation, expired, revoked, timeout)."""
    lowered = text.lower()
    return "authorization" in lowered or "authentication" in lowered


class AuthMemory:
    """The last authentication error per server; the same one twice in a row is final."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], str] = {}

    def failed(self, server: ServerUrl, error: str | None) -> bool:
        """Record one outcome (``error`` None: not an auth error); True when it is final."""
        key = (server.host, server.port)
        if error is None:
            self._last.pop(key, None)
            return False
        normal = " ".join(error.lower().split())
        if self._last.get(key) == normal:
            return True
        self._last[key] = normal
        return False

    def succeeded(self, server: ServerUrl) -> None:
        self._last.pop((server.host, server.port), None)


def learn_servers(servers: list[ServerUrl], configured: int, info: dict[str, Any]) -> None:
    """Add the servers that ``info`` announces to ``servers`` (in place), with the first
    server's credentials and TLS name, up to `MAX_LEARNED_SERVERS` beyond ``configured``."""
    known = {(s.host, s.port) for s in servers}
    template = servers[0]
    for address in info.get("connect_urls") or ():
        if len(servers) >= configured + MAX_LEARNED_SERVERS:
            return
        try:
            found = parse_url(f"{template.scheme}://{address}")
        except ValueError:
            continue
        if (found.host, found.port) not in known:
            known.add((found.host, found.port))
            # Announced by address: verified against the configured server's TLS name.
            servers.append(
                dataclasses.replace(
                    found,
                    user=template.user,
                    password=template.password,
                    token=template.token,
                    tls_name=template.tls_name or template.host,
                )
            )


async def reconnect(
    servers: list[ServerUrl],
    previous: ServerUrl,
    options: Options,
    backoff: Backoff,
    auth: AuthMemory,
    scrub: Callable[[Exception], str],
) -> Link:
    """Try every server per round (shuffled, ``previous`` last), until one accepts; the rounds
    are spaced by ``backoff``. Raises `NatsAuthError` when a server refuses the credentials
    the same way twice in a row (a refusal on the dropped connection counts)."""
    while True:
        delay = backoff.next_delay()
        if delay:
            await trio.sleep(delay)
        order = list(servers)
        random.shuffle(order)
        order.sort(key=lambda s: (s.host, s.port) == (previous.host, previous.port))
        for server in order:
            try:
                with trio.fail_after(ATTEMPT_TIMEOUT):
                    link = await handshake(server, options)
            except HandshakeError as exc:
                reason = scrub(exc)
                refused = exc.server_error if exc.server_error and is_auth_error(reason) else None
                if auth.failed(server, refused):
                    raise NatsAuthError(
                        f"{server.public()} refused the credentials twice in a row ({reason})"
                    ) from None
                log.debug("NATS reconnect to %s failed: %s", server.public(), reason)
            except trio.TooSlowError:
                auth.failed(server, None)
                log.debug("NATS reconnect to %s failed: no answer in time", server.public())
            else:
                auth.succeeded(server)
                return link
