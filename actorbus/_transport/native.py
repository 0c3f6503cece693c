"""The Trio-native NATS transport: the default client for ``nats://``, ``tls://`` and embedded.

One connection at a time, owned by a nursery that `open_native` opens:

- **reader**: one task reads, parses everything it got (`natsproto.Parser`) and delivers each
  message (headers parsed only when it has some) to its subscriber's synchronous callback.
- **writer**: `publish` appends to one outbound buffer and wakes the writer, which sends all that
  accumulated in one ``send_all`` per scheduler pass (TCP_NODELAY is on). Past ``HIGH_WATER``
  bytes the buffer is `backlogged`; past ``max_pending`` a publish raises `TransportError`.
- **keep-alive**: a PING every ``ping_interval`` seconds; ``max_outstanding_pings`` unanswered
  ones mark the connection stale and it is dropped.
- **reconnect** (`reconnect`): when the connection drops (or the server enters lame-duck mode),
  servers from the configured URLs and the server's ``connect_urls`` are tried in shuffled order
  with backoff and jitter that grows across connections that drop soon after being accepted,
  and every subscription is replayed (same sid and queue) before anything else is sent. The
  same authentication error twice in a row ends the transport with `NatsAuthError`. While
  disconnected, `publish` fails fast with `TransportError`.
- **server errors**: a permissions violation or ``maximum subscriptions exceeded`` leaves the
  connection up (a `flush` after a refused subscription raises); other ``-ERR``s drop it.
"""

from __future__ import annotations

import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .._excgroups import leaf, lone_exception_as_itself
from . import natsproto as proto
from .base import (
    Deliver,
    Headers,
    Message,
    PayloadTooLarge,
    Subscription,
    TransportClosed,
    TransportError,
)
from .nativestate import Handle, Lost, Pong, Sub, headed_message
from .natsbase import NatsBase
from .natsconn import Auth, HandshakeError, Link, Options, ServerUrl, first_connect, parse_url
from .reconnect import (
    DEFAULT_HEALTHY_AFTER,
    AuthMemory,
    Backoff,
    NatsAuthError,
    is_auth_error,
    learn_servers,
    reconnect,
)
from .settings import NatsConnectError, creds_file, scrub, server_urls, tls_context, url_secrets

__all__ = ["NativeNatsTransport", "open_native"]

log = logging.getLogger("actorbus.nats")

DEFAULT_RECONNECT_WAIT = 1.0
FLUSH_TIMEOUT = 5.0  # bound on `flush` (a PING/PONG round trip), in seconds
DEFAULT_MAX_PENDING = 64 * 1024 * 1024
HIGH_WATER = 1024 * 1024
_CONNECTION_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
#: nats-server refuses one SUB past ``max_subscriptions`` and keeps the connection.
_MAX_SUBS = "maximum subscriptions exceeded"


class NativeNatsTransport(NatsBase):
    """A `Transport` over a Trio-native core-NATS connection; make one with `open_native`."""

    def __init__(
        self,
        urls: list[str],
        *,
        options: Options,
        reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
        ping_interval: float = 30.0,
        max_outstanding_pings: int = 2,
        max_pending: int = DEFAULT_MAX_PENDING,
        healthy_after: float = DEFAULT_HEALTHY_AFTER,
    ) -> None:
        self._servers: list[ServerUrl] = [parse_url(u) for u in urls]
        self._configured = len(self._servers)
        self._public = ",".join(s.public() for s in self._servers)
        self._secrets = url_secrets(urls) + [s for s in (options.auth.nkey_seed,) if s]
        self._options = options
        self._backoff = Backoff(reconnect_wait, healthy_after)
        self._auth = AuthMemory()
        self._ping_interval = ping_interval
        self._max_outstanding = max_outstanding_pings
        self._max_pending = max_pending
        self._subs: dict[int, Sub] = {}
        self._next_sid = 1
        self._out = bytearray()
        self._wake_writer = trio.lowlevel.ParkingLot()
        self._written = trio.lowlevel.ParkingLot()  # producers waiting for `wait_writable`
        self._pongs: deque[Pong | None] = deque()
        self._link: Link | None = None
        self._closed = False
        self._state_changed = trio.Event()
        self._stats = {"in_msgs": 0, "in_bytes": 0, "out_msgs": 0, "out_bytes": 0, "reconnects": 0}
        self._cancel: trio.CancelScope | None = None
        self._ldm = False
        self._refusals = 0  # subscriptions refused since the last PONG

    # -- Transport -------------------------------------------------------------------------

    supports_headers = True
    durable_mode = "jetstream"

    def publish(
        self, subject: str, data: bytes, *, reply: str | None = None, headers: Headers = None
    ) -> None:
        if self._link is None:
            raise self._not_connected(f"cannot publish to {subject}")
        try:
            if headers:  # nats-server counts the header block in max_payload
                block = proto.encode_headers(headers)
                line, data = proto.hpub_command(subject, reply, len(block), len(data)), block + data
            else:
                line = proto.pub_command(subject, reply, len(data))
        except ValueError as exc:
            raise TransportError(f"cannot publish: {exc}") from None
        size = len(data)
        if size > self.max_payload:
            raise PayloadTooLarge(size, self.max_payload)
        out = self._out
        if len(out) + size > self._max_pending:
            raise TransportError(
                f"cannot publish to {subject}: the outbound buffer to {self._public} is full "
                f"({len(out)} bytes pending; the server is not keeping up)"
            )
        out += line
        out += data
        out += b"\r\n"
        stats = self._stats
        stats["out_msgs"] += 1
        stats["out_bytes"] += size
        self._wake_writer.unpark()

    async def subscribe(
        self, subject: str, deliver: Deliver, *, queue: str | None = None
    ) -> Subscription:
        await trio.lowlevel.checkpoint()
        if self._closed:
            raise TransportClosed(f"NATS transport to {self._public} is closed")
        sid = self._next_sid
        try:
            command = proto.sub_command(subject, queue, sid)
        except ValueError as exc:
            raise TransportError(f"cannot subscribe: {exc}") from None
        self._next_sid += 1
        sub = Sub(sid, subject, queue, deliver)
        self._subs[sid] = sub
        if self._link is not None:  # otherwise the reconnect replays it
            self._out += command
            self._wake_writer.unpark()
        return Handle(sub, self._unsubscribe)

    def _unsubscribe(self, sid: int) -> None:
        if self._subs.pop(sid, None) is not None and self._link is not None:
            self._out += proto.unsub_command(sid)
            self._wake_writer.unpark()

    async def flush(self) -> None:
        """PING/PONG round trip, bounded; raises `TransportError` if it cannot complete."""
        await trio.lowlevel.checkpoint()
        if self._link is None:
            raise self._not_connected("cannot flush")
        pong = self._ping()
        with trio.move_on_after(FLUSH_TIMEOUT):
            await pong.done.wait()
        if not pong.done.is_set():
            raise TransportError(f"NATS server at {self._public} did not answer a PING in time")
        if not pong.ok:
            raise self._not_connected("flush interrupted")
        if pong.refused is not None:
            raise TransportError(f"NATS at {self._public} refused a subscription: {pong.refused}")

    async def aclose(self) -> None:
        """Unsubscribe, flush what was accepted, close the socket; idempotent and bounded."""
        if not self._closed:
            self._closed = True
            link = self._link
            if link is not None:
                for sid in list(self._subs):
                    self._out += proto.unsub_command(sid)
                pong = self._ping()
                with trio.CancelScope(shield=True), trio.move_on_after(FLUSH_TIMEOUT):
                    await pong.done.wait()
            self._subs.clear()
            if self._cancel is not None:
                self._cancel.cancel()
            self._set_link(None)
            log.debug("closed NATS connection to %s", self._public)
        await trio.lowlevel.checkpoint()

    @property
    def backlogged(self) -> bool:
        return len(self._out) >= HIGH_WATER

    async def wait_writable(self) -> None:
        if self.backlogged and self._link is not None:
            await self._written.park()  # the writer's next send, or the connection's end
        else:
            await trio.lowlevel.checkpoint()

    @property
    def connected(self) -> bool:
        return self._link is not None

    @property
    def connected_url(self) -> str | None:
        """The server connected to now (credentials left out), or None."""
        link = self._link
        return None if link is None else link.url.public()

    def statistics(self) -> dict[str, int]:
        """Messages and bytes in and out, reconnects."""
        return dict(self._stats)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "disconnected"
        return f"<NativeNatsTransport {self._public} {state}>"

    def _ping(self) -> Pong:
        pong = Pong()
        self._pongs.append(pong)
        self._out += proto.PING_COMMAND
        self._wake_writer.unpark()
        return pong

    def _set_link(self, link: Link | None) -> None:
        self._link = link
        self._written.unpark_all()
        if link is None:
            self._out = bytearray()
            while self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.done.set()
        self._state_changed.set()
        self._state_changed = trio.Event()

    # -- connecting ------------------------------------------------------------------------

    async def _first_connect(self, timeout: float) -> Link:
        try:
            return await first_connect(self._servers, self._options, timeout, self._scrub)
        except HandshakeError as exc:
            raise NatsConnectError(f"cannot connect to NATS at {self._public}: {exc}") from None

    def _scrub(self, exc: BaseException) -> str:
        return scrub(str(exc) or type(exc).__name__, self._secrets)

    def _start(self, link: Link) -> None:
        """Adopt a fresh connection: limits from INFO, replayed subscriptions first."""
        info = link.info  # field types checked by the parser (`natsproto.check_info`)
        self.max_payload = int(info.get("max_payload", self.max_payload))
        learn_servers(self._servers, self._configured, info)
        self._ldm = bool(info.get("ldm"))
        self._backoff.connected(trio.current_time())
        out = bytearray()
        for sub in self._subs.values():
            out += proto.sub_command(sub.subject, sub.queue, sub.sid)
        self._out = out
        self._set_link(link)

    async def _run(self, link: Link) -> None:
        """Own the connection until `aclose`: serve it, and reconnect whenever it drops."""
        with trio.CancelScope() as self._cancel:
            while True:
                try:
                    await self._serve(link)
                except Lost as exc:
                    self._auth.failed(link.url, exc.auth)
                    if not self._closed:
                        log.warning(
                            "disconnected from NATS at %s (%s); reconnecting",
                            link.url.public(),
                            self._scrub(exc),
                        )
                finally:
                    self._set_link(None)
                    self._backoff.dropped(trio.current_time())
                    with trio.CancelScope(shield=True):
                        await trio.aclose_forcefully(link.stream)
                if self._closed:
                    return
                try:
                    link = await reconnect(
                        self._servers, link.url, self._options, self._backoff, self._auth,
                        self._scrub,
                    )  # fmt: skip
                except NatsAuthError as exc:
                    self.failure = f"gave up on NATS: {exc}"
                    log.error("%s", self.failure)
                    self._closed = True
                    self._set_link(None)
                    raise NatsAuthError(self.failure) from None
                self._start(link)
                self._stats["reconnects"] += 1
                log.info("reconnected to NATS at %s", link.url.public())

    async def _serve(self, link: Link) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, link.stream)
                nursery.start_soon(self._pinger)
                await self._reader(link)
        except BaseExceptionGroup as group:
            lost, rest = group.split(_CONNECTION_ERRORS)
            if lost is None or rest is not None:
                raise
            first = leaf(lost)
            raise Lost(str(first) or type(first).__name__) from None

    async def _reader(self, link: Link) -> None:
        stream, parser = link.stream, link.parser
        subs = self._subs
        stats = self._stats
        events: list[proto.Event] = link.leftover
        while True:
            for event in events:
                if type(event) is proto.Msg:
                    sub = subs.get(event.sid)
                    if sub is None:
                        continue
                    stats["in_msgs"] += 1
                    stats["in_bytes"] += len(event.payload)
                    headers = event.headers
                    if headers is None:
                        msg = Message(event.subject, event.payload, event.reply)
                    else:  # a status (no responders, JetStream's) or a message with headers
                        msg = headed_message(event)
                    try:
                        sub.deliver(msg)
                    except Exception:  # a subscriber must never take the reader down
                        log.exception(
                            "subscriber of %s raised while handling a message", event.subject
                        )
                else:
                    self._control(event)
            data = await stream.receive_some(262144)
            if not data:
                raise Lost("the server closed the connection")
            try:
                events = parser.feed(data)
            except proto.ProtocolError as exc:
                raise Lost(f"protocol error: {exc}") from None

    def _control(self, event: proto.Event) -> None:
        if event is proto.PING:
            if len(self._out) + len(proto.PONG_COMMAND) > self._max_pending:
                raise Lost(
                    f"the outbound buffer is full ({len(self._out)} bytes): the server sends "
                    "PINGs faster than it reads"
                )
            self._out += proto.PONG_COMMAND
            self._wake_writer.unpark()
        elif event is proto.PONG:
            self._refusals = 0
            if self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.ok = True
                    waiter.done.set()
        elif isinstance(event, proto.Info):
            learn_servers(self._servers, self._configured, event.fields)
            if event.fields.get("ldm"):
                self._ldm = True
                raise Lost("the server entered lame-duck mode")
        elif isinstance(event, proto.Err):
            text = event.text
            if event.permission_violation or _MAX_SUBS in text.lower():
                name = self._options.name
                who = f"connection {name!r}" if name else f"the connection to {self._public}"
                if event.permission_violation:
                    log.error("NATS refused %s: %s", who, text)
                    self._refusal(text)
                else:  # one line per burst; the flushes in flight raise it
                    self._refusals += 1
                    if self._refusals == 1:
                        log.error("NATS refused %s: %s", who, text)
                    for waiter in self._pongs:
                        if waiter is not None:
                            waiter.refused = text
            else:
                raise Lost(f"server error: {text}", text if is_auth_error(text) else None)

    async def _writer(self, stream: trio.abc.Stream) -> None:
        while True:
            if not self._out:
                await self._wake_writer.park()
                continue
            # Woken in the pass after the first publish: all tasks that ran in that pass have
            # appended already, so one send carries them all.
            data, self._out = self._out, bytearray()
            await stream.send_all(data)
            self._written.unpark_all()

    async def _pinger(self) -> None:
        while True:
            await trio.sleep(self._ping_interval)
            if sum(1 for p in self._pongs if p is None) >= self._max_outstanding:
                raise Lost(f"stale connection: {self._max_outstanding} PINGs unanswered")
            self._pongs.append(None)
            self._out += proto.PING_COMMAND
            self._wake_writer.unpark()


@asynccontextmanager
async def open_native(
    url: str | None = None,
    *,
    name: str | None = None,
    connect_timeout: float = 5.0,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    nkey_seed: str | None = None,
    creds: str | None = None,
    tls: ssl.SSLContext | None = None,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_first: bool = False,
    reconnect_wait: float = DEFAULT_RECONNECT_WAIT,
    ping_interval: float = 30.0,
    max_pending: int = DEFAULT_MAX_PENDING,
    healthy_after: float = DEFAULT_HEALTHY_AFTER,
) -> AsyncIterator[NativeNatsTransport]:
    """Connect to NATS with the Trio-native client for the duration of the block.

    ``url``: comma-separated ``nats://``/``tls://`` URLs (``user:pass@`` or ``token@``
    allowed; default ``$NATS_URL``). ``connect_timeout`` bounds the first connection; later
    drops reconnect with backoff from ``reconnect_wait`` (reset by a connection that stayed up
    ``healthy_after`` seconds) until a server refuses the credentials twice in a row
    (`NatsAuthError` out of the block). Credentials: ``user`` and
    ``password``, ``token``, ``nkey_seed`` (``SU…``) or ``creds`` (a ``.creds`` file, default
    ``$NATS_CREDS``). TLS: ``tls`` (an SSL context) or ``tls_ca``/``tls_cert``/``tls_key``
    (default ``$NATS_CA``/``$NATS_CERT``/``$NATS_KEY``); ``tls_first`` starts TLS before INFO.
    ``max_pending`` bounds the bytes waiting to be sent. Raises `NatsConnectError` when the
    first connection fails: no URL, bad settings, refused, or no answer in time.
    """
    urls = server_urls(url)
    try:
        options = Options(
            Auth(user, password, token, nkey_seed, creds_file(creds)),
            name=name,
            tls=tls_context(tls, tls_ca, tls_cert, tls_key),
            tls_first=tls_first,
        )
        transport = NativeNatsTransport(
            urls,
            options=options,
            reconnect_wait=reconnect_wait,
            ping_interval=ping_interval,
            max_pending=max_pending,
            healthy_after=healthy_after,
        )
    except ValueError as exc:
        raise NatsConnectError(str(exc)) from None
    link = await transport._first_connect(connect_timeout)
    with lone_exception_as_itself():
        async with trio.open_nursery() as nursery:
            transport._start(link)
            nursery.start_soon(transport._run, link)
            log.info("connected to NATS at %s", transport.describe())
            try:
                yield transport
            finally:
                await transport.aclose()
