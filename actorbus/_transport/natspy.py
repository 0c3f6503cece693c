"""The nats-py option: nats-py on a ``trio_asyncio`` loop, through public API only.

Chosen with ``App(..., nats_client="nats-py")`` or ``ACTORBUS_NATS_CLIENT=nats-py`` for users
who need nats-py itself; the default is the Trio-native client (`actorbus._transport.native`).
This is the only actorbus module that imports ``nats``, ``asyncio`` or ``trio_asyncio``, and
nothing imports it unless that option is chosen: importing trio_asyncio patches asyncio for the
whole process.

How the two loops meet, with nothing but public calls:

- **Publish** (synchronous, never blocks) appends to an ``asyncio.Queue``; one long-lived
  asyncio task drains it and awaits ``nc.publish`` for each message, in order.
- **Inbound** messages arrive through nats-py's ``cb=`` coroutine, which calls the Trio-side
  ``deliver`` callback (same thread).
- **Flush** goes through the same queue (so it follows every earlier publish), then awaits
  ``nc.flush``.
- **While disconnected**, `publish` fails fast with `TransportError`; subscriptions are
  replayed by nats-py on reconnect.

It is slower than the native client: trio-asyncio runs one asyncio handle per Trio pass.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import nats.errors
import trio
import trio_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg

from .._excgroups import lone_exception_as_itself
from .base import (
    Deliver,
    Headers,
    Message,
    PayloadTooLarge,
    Subscription,
    TransportClosed,
    TransportError,
)
from .natsbase import NatsBase
from .settings import (
    NatsConnectError,
    creds_file,
    redact,
    scrub,
    server_urls,
    tls_context,
    url_secrets,
)

__all__ = ["NatsConnectError", "NatsPyTransport", "open_natspy"]

log = logging.getLogger("actorbus.nats")

T = TypeVar("T")

DEFAULT_RECONNECT_WAIT = 1.0
#: Bound on one connect attempt, on `flush` and on the other control operations, in seconds.
_ATTEMPT_TIMEOUT = 2.0
_FLUSH_TIMEOUT = 5.0
_CLOSE_TIMEOUT = 2.0
_AUTH_MARKERS = ("authorization", "authentication")


def _is_fatal(exc: BaseException) -> bool:
    """Retrying cannot help: refused credentials, or a certificate that does not verify."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    if isinstance(exc, ssl.SSLError) and "alert" in str(exc).lower():  # our certificate refused
        return True
    text = str(exc).lower()
    return any(m in text for m in _AUTH_MARKERS)


def _refusal(exc: BaseException) -> str:
    """One line naming why the server or its certificate was refused."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = str(exc.verify_message or exc.reason or exc)
        if "mismatch" in why.lower():
            return f"TLS hostname mismatch: {why}"
        return f"untrusted TLS certificate: {why}"
    if "authorization violation" in str(exc).lower():
        return "authorization violation (the server refused the credentials)"
    return str(exc)


#: One queued publish: (subject, data, reply), or a future to resolve once all before it went.
_Item = tuple[str, bytes, str, dict[str, str] | None] | asyncio.Future[None]


def _message(msg: Msg) -> Message:
    headers = msg.headers
    if headers and not msg.data and headers.get("Status") == "503":
        return Message(msg.subject, b"", None, True)
    if headers:
        return Message(msg.subject, msg.data, msg.reply or None, False, dict(headers))
    return Message(msg.subject, msg.data, msg.reply or None)


class _Handle(Subscription):
    def __init__(self, transport: NatsPyTransport, sub: Any, subject: str, queue: str | None):
        self.subject = subject
        self.queue = queue
        self._transport = transport
        self._sub = sub
        self._active = True

    async def unsubscribe(self) -> None:
        await trio.lowlevel.checkpoint()
        if not self._active:
            return
        self._active = False
        if not self._transport._closed:
            try:
                await self._transport._call(self._sub.unsubscribe())
            except (nats.errors.Error, TransportError) as exc:
                log.debug("unsubscribe from %s: %s", self.subject, exc)


class NatsPyTransport(NatsBase):
    """A `Transport` over one nats-py connection on a trio-asyncio loop (see `open_natspy`)."""

    def __init__(
        self, loop: trio_asyncio.TrioEventLoop, urls: list[str], secrets: Sequence[str] = ()
    ) -> None:
        self._loop = loop
        self._urls = urls
        self._public = ",".join(redact(u) for u in urls)
        self._secrets = url_secrets(urls) + list(secrets)
        self._nc = Client()
        self._name: str | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._closed = False
        self._connecting = False
        self._fatal: BaseException | None = None
        self._last_error: BaseException | None = None
        self._connect_scope: trio.CancelScope | None = None
        self._state_changed = trio.Event()

    # -- connection ------------------------------------------------------------------------

    async def _connect(self, connect_timeout: float, options: dict[str, Any]) -> None:
        options.update(
            servers=self._urls,
            error_cb=self._on_error,
            disconnected_cb=self._on_state,
            reconnected_cb=self._on_state,
            closed_cb=self._on_state,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            connect_timeout=min(connect_timeout, _ATTEMPT_TIMEOUT),
        )
        self._name = options.get("name")
        self._connecting = True
        failure: BaseException | None = None
        try:
            with trio.move_on_after(connect_timeout) as scope:
                self._connect_scope = scope
                await self._loop.run_aio_coroutine(self._nc.connect(**options))
        except Exception as exc:  # invalid URL, unreadable creds and the like
            failure = exc
        finally:
            self._connecting = False
            self._connect_scope = None
        if failure is None and not scope.cancelled_caught and self._nc.is_connected:
            self.max_payload = int(self._nc.max_payload)
            self._pump = self._loop.create_task(self._drain())
            log.info("connected to NATS at %s (nats-py)", self._public)
            return
        await self._close_client()
        cause = self._fatal or failure or self._last_error
        if cause is None:
            reason = f"no answer within {connect_timeout:g} s"
        elif cause is self._fatal:
            reason = f"refused: {scrub(_refusal(cause), self._secrets)}"
        else:
            reason = f"{type(cause).__name__}: {self._scrub(cause)}"
        raise NatsConnectError(f"cannot connect to NATS at {self._public}: {reason}") from None

    def _scrub(self, exc: BaseException) -> str:
        return scrub(str(exc) or type(exc).__name__, self._secrets)

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = exc
        if self._connecting:
            if _is_fatal(exc) and self._fatal is None:
                # Retrying cannot help: close (which closes the socket) and end connect() now.
                # After a refused TLS handshake nats-py's close() only returns once connect()
                # gives up, so it runs as a task there, awaited (bounded) by `_close_client`.
                self._fatal = exc
                if isinstance(exc, ssl.SSLError):
                    self._closing = self._loop.create_task(self._nc.close())
                else:
                    await self._nc.close()
                if self._connect_scope is not None:
                    self._connect_scope.cancel()
        elif "permissions violation" in str(exc).lower():
            who = f"connection {self._name!r}" if self._name else "this connection"
            log.error("NATS refused %s: %s", who, self._scrub(exc).removeprefix("nats: "))
            self._refusal(str(exc))
        elif not self._nc.is_reconnecting:
            log.warning("NATS connection error (%s): %s", self._public, self._scrub(exc))

    async def _on_state(self) -> None:
        self._state_changed.set()
        self._state_changed = trio.Event()

    async def _drain(self) -> None:
        """The one asyncio task that sends queued publishes, in order."""
        queue, nc = self._queue, self._nc
        while True:
            item = await queue.get()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    try:
                        await nc.flush(int(_FLUSH_TIMEOUT))
                        item.set_result(None)
                    except Exception as exc:
                        if not item.done():
                            item.set_exception(exc)
                continue
            try:
                await nc.publish(item[0], item[1], item[2], headers=item[3])
            except Exception as exc:
                log.warning("NATS publish to %s failed: %s", item[0], self._scrub(exc))

    # -- Transport -------------------------------------------------------------------------

    supports_headers = True
    durable_refusal = (
        "durable sinks run on the default NATS client, not nats-py: unset "
        "ACTORBUS_NATS_CLIENT (or pass nats_client='native')"
    )

    def publish(
        self, subject: str, data: bytes, *, reply: str | None = None, headers: Headers = None
    ) -> None:
        if self._closed:
            raise TransportClosed(f"NATS transport to {self._public} is closed")
        if len(data) > self.max_payload:
            raise PayloadTooLarge(len(data), self.max_payload)
        if not self._nc.is_connected:
            raise self._not_connected(f"cannot publish to {subject}")
        if not subject or any(c.isspace() for c in subject):
            raise TransportError(f"cannot publish: invalid NATS subject {subject!r}")
        self._queue.put_nowait((subject, data, reply or "", dict(headers) if headers else None))

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise TransportClosed(f"NATS transport to {self._public} is closed")

        async def cb(msg: Msg) -> None:
            try:
                deliver(_message(msg))
            except Exception:  # a subscriber must never take nats-py's task down
                log.exception("subscriber of %s raised while handling a message", msg.subject)

        try:
            sub = await self._call(self._nc.subscribe(subject, queue=queue or "", cb=cb))
        except nats.errors.Error as exc:
            raise TransportError(f"cannot subscribe to {subject}: {exc}") from exc
        return _Handle(self, sub, subject, queue)

    async def flush(self) -> None:
        """Every earlier publish sent, then a PING/PONG round trip; bounded."""
        await trio.lowlevel.checkpoint()
        if self._closed or not self._nc.is_connected:
            raise self._not_connected("cannot flush")
        done: asyncio.Future[None] = self._loop.create_future()
        self._queue.put_nowait(done)
        try:
            await self._call(_wait(done), timeout=_FLUSH_TIMEOUT + 1)
        except (TimeoutError, nats.errors.Error) as exc:
            if not self._nc.is_connected:
                raise self._not_connected("flush interrupted") from None
            raise TransportError(f"NATS server at {self._public} did not answer: {exc}") from None

    async def _call(self, coro: Coroutine[Any, Any, T], timeout: float = _FLUSH_TIMEOUT) -> T:
        """Run a nats-py coroutine on the asyncio loop, bounded by ``timeout``."""
        with trio.move_on_after(timeout):
            result: T = await self._loop.run_aio_coroutine(coro)
            return result
        raise TransportError(f"NATS operation on {self._public} timed out")

    async def aclose(self) -> None:
        """Send what was queued, close the connection; idempotent, bounded, even if cancelled."""
        if not self._closed:
            self._closed = True
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
                if self._nc.is_connected and self._pump is not None:
                    done: asyncio.Future[None] = self._loop.create_future()
                    self._queue.put_nowait(done)
                    try:
                        await trio_asyncio.run_aio_future(done)
                    except Exception as exc:
                        log.debug("final flush: %s", self._scrub(exc))
            await self._close_client()
            await self._on_state()
        await trio.lowlevel.checkpoint()

    async def _close_client(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT) as scope:
            if self._pump is not None:
                self._pump.cancel()
            try:
                if self._closing is not None:
                    await trio_asyncio.run_aio_future(self._closing)
                await self._loop.run_aio_coroutine(self._nc.close())
            except (Exception, asyncio.CancelledError) as exc:
                log.debug("closing the NATS client: %s", self._scrub(exc))
        if scope.cancelled_caught:
            log.warning("closing the NATS connection to %s timed out", self._public)

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return not self._closed and bool(self._nc.is_connected)

    def _closed_for_good(self) -> bool:
        return self._closed or bool(self._nc.is_closed)

    def statistics(self) -> dict[str, int]:
        """nats-py's counters: messages and bytes in and out, reconnects."""
        return dict(self._nc.stats)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "disconnected"
        return f"<NatsPyTransport {self._public} {state}>"


async def _wait(future: Awaitable[None]) -> None:
    await future


@asynccontextmanager
async def open_natspy(
    url: str | None = None,
    *,
    name: str | None = None,
    connect_timeout: float = 5.0,
    creds: str | None = None,
    tls: ssl.SSLContext | None = None,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
    nkey_seed: str | None = None,
) -> AsyncIterator[NatsPyTransport]:
    """Connect with nats-py (on a trio-asyncio loop) for the duration of the block.

    Arguments as `actorbus._transport.native.open_native` (a subset; ``nkey_seed`` is an
    ``SU…`` seed). Opens a trio-asyncio loop
    unless the calling task already runs inside one; closes the connection on exit, also when
    cancelled. Raises `NatsConnectError` when the first connection fails within the bound.
    """
    urls = server_urls(url)
    options: dict[str, Any] = {"name": name, "reconnect_time_wait": reconnect_wait}
    context = tls_context(tls, tls_ca, tls_cert, tls_key)
    if context is not None:
        options["tls"] = context
    creds_path = creds_file(creds)
    if creds_path is not None:
        options["user_credentials"] = creds_path
    if nkey_seed is not None:
        options["nkeys_seed_str"] = nkey_seed

    async def connected() -> NatsPyTransport:
        loop = trio_asyncio.current_loop.get()
        transport = NatsPyTransport(loop, urls, [nkey_seed] if nkey_seed else [])
        await transport._connect(connect_timeout, options)
        return transport

    if trio_asyncio.current_loop.get() is not None:
        transport = await connected()
        try:
            yield transport
        finally:
            await transport.aclose()
        return
    with lone_exception_as_itself():  # the loop's nurseries are an implementation detail
        async with trio_asyncio.open_loop():
            transport = await connected()
            try:
                yield transport
            finally:
                await transport.aclose()
