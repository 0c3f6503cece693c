"""NATS transport: nats-py on a ``trio_asyncio`` loop, with the bridging kept off the hot path.

This is the only actorbus module that imports ``nats``, ``asyncio`` or ``trio_asyncio``; nothing
imports it at package import time (the app's bus factory imports it lazily), because importing
trio_asyncio patches asyncio for the whole process.

How the two event loops meet:

- **Publish** drives nats-py's ``publish()`` coroutine inline from the calling Trio task
  (``coro.send(None)``, about 1 µs). nats-py normally completes it without suspending: it
  appends the ``PUB`` to its buffer and kicks its flusher. If it ever does suspend (its buffer
  is over the limit), the rest of the coroutine is handed to an asyncio task; the command is
  already buffered by then, so ordering is kept and the caller never blocks.
- **Inbound** messages skip nats-py's per-subscription queue and task: a `Client` subclass
  intercepts ``_process_msg`` in the read loop and calls the Trio-side ``deliver`` callback
  directly (same thread, no extra asyncio hop). If nats-py's internals ever stop matching what
  this relies on, subscriptions fall back to a ``cb=`` coroutine.
- **While disconnected**, `NatsTransport.publish` fails fast with `TransportError` instead of
  letting nats-py buffer silently until the reconnect: callers learn at once that the message
  was not sent. Subscriptions made before or during an outage are replayed on reconnect.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import nats.errors
import trio
import trio_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as _NatsSubscription

from .._groups import sole_exception
from .base import (
    Deliver,
    Message,
    PayloadTooLarge,
    Subscription,
    Transport,
    TransportClosed,
    TransportError,
)
from .settings import (
    NatsConnectError,
    creds_file,
    redact,
    scrub,
    server_urls,
    tls_context,
    url_secrets,
)

__all__ = ["NatsConnectError", "NatsTransport", "connect_nats", "open_nats"]

log = logging.getLogger("actorbus.nats")

T = TypeVar("T")

#: Seconds between reconnect attempts to one server (nats-py's default is 2).
DEFAULT_RECONNECT_WAIT = 1.0
#: Bound on one TCP connect + handshake attempt, in seconds.
_ATTEMPT_TIMEOUT = 2.0
#: Bound on `flush` (PING/PONG round trip) and on the other control operations, in seconds.
_FLUSH_TIMEOUT = 5.0
_CLOSE_TIMEOUT = 2.0
#: An unanswered PING inside `flush` is sent again after this many seconds.
_PING_RETRY = 1.0
#: nats-py's outbound buffer; past it, a publish hands its tail to an asyncio task.
_PENDING_LIMIT = 16 * 1024 * 1024
#: Start of the header block of a "no responders" status message sent by nats-server.
_NO_RESPONDERS = b"NATS/1.0 503"
_AUTH_MARKERS = ("authorization", "authentication", "permissions violation")


# -- nats-py internals this module relies on ------------------------------------------------


def _supports_direct_delivery() -> bool:
    """Check that nats-py's read path still calls ``_process_msg(sid, subject, reply, data,
    headers)``; the direct inbound path depends on it."""
    method = getattr(Client, "_process_msg", None)
    if method is None or not inspect.iscoroutinefunction(method):
        return False
    params = list(inspect.signature(method).parameters)
    return params == ["self", "sid", "subject", "reply", "data", "headers"]


_current_loop = trio_asyncio.current_loop
_DIRECT_DELIVERY = _supports_direct_delivery()
_HAS_SEND_PING = inspect.iscoroutinefunction(getattr(Client, "_send_ping", None))


class _Client(Client):  # type: ignore[misc]
    """nats-py client with a table of "direct" subscriptions (empty unless `_DirectClient`)."""

    def __init__(self) -> None:
        super().__init__()
        self._direct: dict[int, Deliver] = {}


class _DirectClient(_Client):
    """Hands messages of direct subscriptions straight from the read loop to their callback.

    Only used when `_supports_direct_delivery` confirmed the hooked method's signature."""

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        deliver = self._direct.get(sid)
        if deliver is None:
            await super()._process_msg(sid, subject, reply, data, headers)  # type: ignore[arg-type]
            return
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        if headers is not None and not data and headers.startswith(_NO_RESPONDERS):
            msg = Message(subject.decode(), b"", None, True)
        else:
            msg = Message(subject.decode(), data, reply.decode() if reply else None)
        _call_deliver(deliver, msg)


def _call_deliver(deliver: Deliver, msg: Message) -> None:
    try:
        deliver(msg)
    except Exception:  # a subscriber must never take the read loop down
        log.exception("subscriber of %s raised while handling a message", msg.subject)


def _from_nats_msg(msg: Msg) -> Message:
    headers = msg.headers
    if headers and not msg.data and headers.get("Status") == "503":
        return Message(msg.subject, b"", None, True)
    return Message(msg.subject, msg.data, msg.reply or None)


# -- driving asyncio coroutines from Trio --------------------------------------------------


class _Resume:
    """Awaitable that continues a coroutine which already ran up to its first suspension."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._first
        self._first = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro: Coroutine[Any, Any, T], first: Any) -> T:
    result: T = await _Resume(coro, first)
    return result


def _is_auth_error(exc: BaseException) -> bool:
    """Retrying cannot help: refused credentials, or a certificate that does not verify."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    if isinstance(exc, ssl.SSLError) and "alert" in str(exc).lower():  # our certificate refused
        return True
    text = str(exc).lower()
    return isinstance(exc, nats.errors.Error) and any(m in text for m in _AUTH_MARKERS)


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


# -- the transport ---------------------------------------------------------------------------


class _NatsSubscriptionHandle(Subscription):
    """Our handle on one nats-py subscription."""

    def __init__(self, transport: NatsTransport, sub: _NatsSubscription, queue: str | None):
        self.subject = sub.subject
        self.queue = queue
        self._transport = transport
        self._sub = sub
        self._active = True

    async def unsubscribe(self) -> None:
        await trio.lowlevel.checkpoint()
        if not self._active:
            return
        self._active = False
        await self._transport._unsubscribe(self._sub)


class NatsTransport(Transport):
    """A `Transport` over one nats-py connection on a trio-asyncio loop.

    Make one with `open_nats` (or `connect_nats` inside an open trio-asyncio loop). Use it from
    Trio tasks of the Trio run that owns that loop.
    """

    def __init__(
        self,
        loop: trio_asyncio.TrioEventLoop,
        urls: list[str],
        *,
        name: str | None = None,
        connect_timeout: float = 5.0,
        creds: str | None = None,
        tls: ssl.SSLContext | None = None,
        reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
        nkey_seed: str | None = None,
    ) -> None:
        self._loop = loop
        self._urls = urls
        self._public_urls = [redact(u) for u in urls]
        self._secrets = url_secrets(urls) + ([nkey_seed] if nkey_seed else [])
        self._nkey_seed = nkey_seed
        self._name = name
        self._connect_timeout = connect_timeout
        self._creds = creds
        self._tls = tls
        self._reconnect_wait = reconnect_wait
        self._nc = _DirectClient() if _DIRECT_DELIVERY else _Client()
        self._closed = False
        self._connecting = False
        self._connect_scope: trio.CancelScope | None = None
        self._fatal: BaseException | None = None
        self._last_error: BaseException | None = None
        self._state_changed = trio.Event()
        self._wakers: set[trio.Event] = set()

    # -- connection ------------------------------------------------------------------------

    async def _connect(self) -> None:
        """First connect, bounded by ``connect_timeout``; then reconnect forever."""
        nc = self._nc
        options: dict[str, Any] = {
            "servers": self._urls,
            "name": self._name,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "closed_cb": self._on_closed,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": self._reconnect_wait,
            "connect_timeout": min(self._connect_timeout, _ATTEMPT_TIMEOUT),
            "pending_size": _PENDING_LIMIT,
        }
        if self._tls is not None:
            options["tls"] = self._tls
        if self._creds is not None:
            options["user_credentials"] = self._creds
        if self._nkey_seed is not None:
            options["nkeys_seed_str"] = self._nkey_seed
        self._connecting = True
        failure: BaseException | None = None
        try:
            with trio.move_on_after(self._connect_timeout) as scope:
                self._connect_scope = scope
                await self._loop.run_aio_coroutine(nc.connect(**options))
        except Exception as exc:  # invalid URL, unreadable creds and the like
            failure = exc
        except BaseException:  # cancelled from outside: do not leak a half-open client
            await self._close_client()
            raise
        finally:
            self._connecting = False
            self._connect_scope = None
        if failure is None and not scope.cancelled_caught and nc.is_connected:
            self.max_payload = int(nc.max_payload)
            log.info("connected to NATS at %s", self.describe())
            return
        await self._close_client()
        cause = self._fatal or failure or self._last_error
        if cause is None:
            reason = f"no answer within {self._connect_timeout:g} s"
        elif cause is self._fatal:
            reason = f"refused: {scrub(_refusal(cause), self._secrets)}"
        else:
            reason = f"{type(cause).__name__}: {self._scrub(cause)}"
            if failure is None:
                reason = f"no connection within {self._connect_timeout:g} s ({reason})"
        raise NatsConnectError(
            f"cannot connect to NATS at {self.describe()}: {reason}"
        ) from failure

    def _scrub(self, exc: BaseException) -> str:
        return scrub(str(exc) or type(exc).__name__, self._secrets)

    def _changed(self) -> None:
        self._state_changed.set()
        self._state_changed = trio.Event()
        for wake in self._wakers:
            wake.set()

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = exc
        if self._connecting:
            log.debug("NATS connect attempt to %s failed: %s", self.describe(), self._scrub(exc))
            if _is_auth_error(exc) and self._connect_scope is not None:
                self._fatal = exc  # retrying cannot help: fail the first connect now
                self._connect_scope.cancel()
            return
        if self._nc.is_reconnecting:  # one warning per outage is logged on disconnect
            log.debug("NATS reconnect attempt to %s failed: %s", self.describe(), self._scrub(exc))
        elif isinstance(exc, nats.errors.SlowConsumerError):
            log.warning("NATS slow consumer on %s: message dropped", exc.subject)
        elif "permissions violation" in str(exc).lower():
            who = f"connection {self._name!r}" if self._name else "this connection"
            log.error("NATS refused %s: %s", who, self._scrub(exc).removeprefix("nats: "))
        else:
            log.warning("NATS connection error (%s): %s", self.describe(), self._scrub(exc))

    async def _on_disconnected(self) -> None:
        self._changed()
        if not self._closed and not self._connecting:
            log.warning("disconnected from NATS at %s; reconnecting", self.describe())

    async def _on_reconnected(self) -> None:
        self._changed()
        url = self._nc.connected_url
        where = f"{url.hostname}:{url.port}" if url is not None else self.describe()
        log.info("reconnected to NATS at %s", where)

    async def _on_closed(self) -> None:
        self._changed()
        if not self._closed and not self._connecting:
            error = self._nc.last_error
            log.error(
                "NATS connection to %s closed by the client library: %s",
                self.describe(),
                self._scrub(error) if error is not None else "no error reported",
            )

    # -- Transport -------------------------------------------------------------------------

    def publish(self, subject: str, data: bytes, *, reply: str | None = None) -> None:
        nc = self._nc
        if self._closed:
            raise TransportClosed(f"NATS transport to {self.describe()} is closed")
        if len(data) > self.max_payload:
            raise PayloadTooLarge(len(data), self.max_payload)
        if not nc.is_connected:
            raise self._not_connected(f"cannot publish to {subject}")
        coro = nc.publish(subject, data, reply or "")
        try:
            if _current_loop.get() is self._loop:
                yielded = coro.send(None)
            else:
                yielded = self._send_in_context(coro)
        except StopIteration:
            return
        except nats.errors.MaxPayloadError:
            raise PayloadTooLarge(len(data), int(nc.max_payload)) from None
        except nats.errors.Error as exc:
            raise TransportError(f"cannot publish to {subject}: {exc}") from exc
        # The PUB is buffered already; nats-py is waiting for its flusher. Let it wait there.
        task = self._loop.create_task(_resume(coro, yielded))
        task.add_done_callback(_log_task_failure)

    def _not_connected(self, what: str) -> TransportError:
        if self._nc.is_closed:
            error = self._nc.last_error
            cause = f": {self._scrub(error)}" if error is not None else ""
            return TransportError(
                f"{what}: the NATS connection to {self.describe()} is closed{cause}"
            )
        return TransportError(f"{what}: not connected to NATS at {self.describe()} (reconnecting)")

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise TransportClosed(f"NATS transport to {self.describe()} is closed")
        nc = self._nc
        direct = _DIRECT_DELIVERY and isinstance(nc, _DirectClient)
        try:
            if direct:
                sub = await self._call(nc.subscribe(subject, queue=queue or ""))
                # Messages that arrived before registration sit in nats-py's own queue.
                while not sub._pending_queue.empty():
                    _call_deliver(deliver, _from_nats_msg(sub._pending_queue.get_nowait()))
                nc._direct[sub._id] = deliver
            else:

                async def cb(msg: Msg) -> None:
                    _call_deliver(deliver, _from_nats_msg(msg))

                sub = await self._call(nc.subscribe(subject, queue=queue or "", cb=cb))
        except nats.errors.Error as exc:
            raise TransportError(f"cannot subscribe to {subject}: {exc}") from exc
        return _NatsSubscriptionHandle(self, sub, queue)

    async def _unsubscribe(self, sub: _NatsSubscription) -> None:
        self._nc._direct.pop(sub._id, None)
        if self._closed or self._nc.is_closed:
            return
        try:
            await self._call(sub.unsubscribe())
        except nats.errors.Error as exc:  # closed or already gone: nothing left to remove
            log.debug("unsubscribe from %s: %s", sub.subject, exc)

    async def flush(self) -> None:
        """PING/PONG round trip with the server, bounded; raises `TransportError` on failure."""
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise TransportClosed(f"NATS transport to {self.describe()} is closed")
        nc = self._nc
        if not nc.is_connected:
            raise self._not_connected("cannot flush")
        if not _HAS_SEND_PING:
            await self._call(nc.flush(int(_FLUSH_TIMEOUT)), timeout=_FLUSH_TIMEOUT + 1)
            return
        # Our own PING future: nats-py's flush() cancels its future on timeout or cancellation,
        # and a late PONG then kills its read loop. This one is never cancelled.
        # A PING sent while nats-py finishes a reconnect can lose its PONG future (nats-py
        # resets its PONG queue), so an unanswered PING is sent again, within the bound.
        with trio.move_on_after(_FLUSH_TIMEOUT):
            while True:
                pong: asyncio.Future[Any] = self._loop.create_future()
                await self._call(nc._send_ping(pong))
                wake = trio.Event()  # set by the PONG, or by a connection state change
                pong.add_done_callback(_setter(wake))
                self._wakers.add(wake)
                try:
                    with trio.move_on_after(_PING_RETRY):
                        await wake.wait()
                finally:
                    self._wakers.discard(wake)
                if pong.done():
                    return
                if not nc.is_connected or self._closed:
                    raise self._not_connected("flush interrupted")
        raise TransportError(f"NATS server at {self.describe()} did not answer a PING in time")

    def _send_in_context(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """First step of ``coro`` for a Trio task whose context lacks our loop (one spawned
        outside ``open_loop``): asyncio's loop lookup must find it."""
        token = _current_loop.set(self._loop)
        try:
            return coro.send(None)
        finally:
            _current_loop.reset(token)

    async def _call(self, coro: Coroutine[Any, Any, T], timeout: float = _FLUSH_TIMEOUT) -> T:
        """Run a nats-py coroutine inline; if it suspends, finish it on the asyncio loop.

        The tail runs shielded from Trio cancellation (cancelling nats-py half-way through a
        control operation can corrupt its state) but bounded by ``timeout``.
        """
        await trio.lowlevel.checkpoint()
        try:
            if _current_loop.get() is self._loop:
                yielded = coro.send(None)
            else:
                yielded = self._send_in_context(coro)
        except StopIteration as stop:
            result: T = stop.value
            return result
        task = self._loop.create_task(_resume(coro, yielded))
        with trio.CancelScope(shield=True), trio.move_on_after(timeout):
            result = await trio_asyncio.run_aio_future(asyncio.shield(task))
            return result
        task.cancel()
        raise TransportError(f"NATS operation on {self.describe()} timed out")

    async def aclose(self) -> None:
        """Close the connection (flushing what was published); idempotent and bounded.

        Closes even when the caller is cancelled (the checkpoint comes after the close)."""
        if not self._closed:
            self._closed = True
            self._nc._direct.clear()
            await self._close_client()
            self._changed()
            log.debug("closed NATS connection to %s", self.describe())
        await trio.lowlevel.checkpoint()

    async def _close_client(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT) as scope:
            try:
                await self._loop.run_aio_coroutine(self._nc.close())
            except Exception as exc:
                log.debug("closing the NATS client: %s", self._scrub(exc))
            # A connect attempt cut short can leave nats-py marked closed with its socket open.
            socket = getattr(self._nc, "_transport", None)
            if socket is not None:
                try:
                    socket.close()
                    await self._loop.run_aio_coroutine(socket.wait_closed())
                except (Exception, asyncio.CancelledError) as exc:  # a failed TLS handshake
                    log.debug("closing the NATS socket: %s", self._scrub(exc))
        if scope.cancelled_caught:
            log.warning("closing the NATS connection to %s timed out", self.describe())

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return not self._closed and bool(self._nc.is_connected)

    async def wait_connected(self) -> None:
        """Wait until the connection is up (again); raises `TransportClosed` once closed."""
        while not self.connected:
            if self._closed or self._nc.is_closed:
                raise TransportClosed(f"NATS transport to {self.describe()} is closed")
            await self._state_changed.wait()
        await trio.lowlevel.checkpoint()

    async def wait_disconnected(self) -> None:
        """Wait until the connection to the server is lost (or closed)."""
        while self.connected:
            await self._state_changed.wait()
        await trio.lowlevel.checkpoint()

    def describe(self) -> str:
        return ",".join(self._public_urls)

    def statistics(self) -> dict[str, int]:
        """nats-py's counters: messages and bytes in and out, reconnects."""
        return dict(self._nc.stats)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "disconnected"
        return f"<NatsTransport {self.describe()} {state}>"


def _setter(event: trio.Event) -> Callable[[object], None]:
    """A done-callback that sets ``event`` (bound now, not late like a lambda in a loop)."""

    def done(_: object) -> None:
        event.set()

    return done


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a buffered NATS publish failed", exc_info=task.exception())


# -- entry points ----------------------------------------------------------------------------


async def connect_nats(
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
) -> NatsTransport:
    """Connect inside an already open ``trio_asyncio.open_loop()``; the caller must `aclose`.

    See `open_nats` for the arguments. Raises `NatsConnectError` if the first connection fails
    within ``connect_timeout`` seconds.
    """
    loop = trio_asyncio.current_loop.get()
    if loop is None:
        raise RuntimeError("connect_nats() needs a running trio_asyncio loop; use open_nats()")
    transport = NatsTransport(
        loop,
        server_urls(url),
        name=name,
        connect_timeout=connect_timeout,
        creds=creds_file(creds),
        tls=tls_context(tls, tls_ca, tls_cert, tls_key),
        reconnect_wait=reconnect_wait,
        nkey_seed=nkey_seed,
    )
    await transport._connect()
    return transport


@asynccontextmanager
async def open_nats(
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
) -> AsyncIterator[NatsTransport]:
    """Connect to NATS for the duration of the block, on a trio-asyncio loop.

    Args:
        url: comma-separated server URLs (``nats://``, ``tls://``; ``user:pass@`` or ``token@``
            allowed). Defaults to ``$NATS_URL``.
        name: connection name shown by the server's monitoring.
        connect_timeout: bound on the first connection, in seconds; afterwards the connection
            is re-established forever, every ``reconnect_wait`` seconds per server.
        creds: a NATS ``.creds`` file (default ``$NATS_CREDS``); needs the nkeys package.
        tls: an SSL context; or build one from ``tls_ca``/``tls_cert``/``tls_key`` (defaults
            ``$NATS_CA``, ``$NATS_CERT``, ``$NATS_KEY``).
        nkey_seed: authenticate with this nkey seed (a user's ``SU...`` seed, never logged).

    Opens a trio-asyncio loop unless the calling task already runs inside one, and closes the
    connection (and that loop) on exit, also when cancelled.

    Raises:
        NatsConnectError: no URL, unreadable settings, or no connection within the bound.
    """
    kwargs: dict[str, Any] = {
        "name": name,
        "connect_timeout": connect_timeout,
        "creds": creds,
        "tls": tls,
        "tls_ca": tls_ca,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "reconnect_wait": reconnect_wait,
        "nkey_seed": nkey_seed,
    }
    if trio_asyncio.current_loop.get() is not None:
        transport = await connect_nats(url, **kwargs)
        try:
            yield transport
        finally:
            await transport.aclose()
        return
    try:
        async with trio_asyncio.open_loop():
            transport = await connect_nats(url, **kwargs)
            try:
                yield transport
            finally:
                await transport.aclose()
    except BaseExceptionGroup as group:
        # The loop's nurseries are an implementation detail: let a single error (ours or the
        # caller's) come out as itself, not wrapped in an exception group.
        single = sole_exception(group)
        if single is None:
            raise
        context = single.__context__
        try:
            raise single  # as itself: keeps its own cause and traceback
        finally:
            single.__context__ = context
