"""Opening one connection to one NATS server on Trio streams: TCP, TLS, INFO, CONNECT, PONG.

`handshake` returns a ready `Link` (stream, parser, the server's INFO) or raises
`HandshakeError` saying why, with secrets left out. `Auth` holds what a CONNECT may need:
user/password or token (from the URL or options), an nkey seed or a ``.creds`` file (JWT +
seed; the server's nonce is signed with the ``nkeys`` package, imported only when used).
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import trio

from . import natsproto as proto

__all__ = [
    "Auth",
    "HandshakeError",
    "Link",
    "ServerUrl",
    "first_connect",
    "handshake",
    "parse_url",
]

log = logging.getLogger("actorbus.nats")

DEFAULT_PORT = 4222
#: Bound on one TCP connect + handshake attempt, in seconds.
ATTEMPT_TIMEOUT = 2.0


class HandshakeError(Exception):
    """One connection attempt failed; ``fatal`` when retrying cannot help (auth, TLS trust)."""

    def __init__(
        self, message: str, *, fatal: bool = False, server_error: str | None = None
    ) -> None:
        super().__init__(" ".join(message.split()))  # always one line
        self.fatal = fatal
        #: The server's own ``-ERR`` text, when it refused the connection.
        self.server_error = server_error


@dataclass(frozen=True, slots=True)
class ServerUrl:
    """One server address; ``user``/``password``/``token`` come from the URL's userinfo."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    token: str | None = None
    #: The name a TLS certificate must carry, when it is not ``host``: a server announced by
    #: address (``connect_urls``) is checked against the configured server's name.
    tls_name: str | None = None

    @property
    def tls(self) -> bool:
        return self.scheme == "tls"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def public(self) -> str:
        secret = "***@" if (self.user or self.token) else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{secret}{host}:{self.port}"


def parse_url(url: str) -> ServerUrl:
    """``nats://[user:pass@|token@]host[:port]`` (or ``tls://``; bare ``host:port`` allowed)."""
    if "://" not in url:
        url = "nats://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("nats", "tls"):
        raise ValueError(
            f"the native NATS client speaks nats:// and tls://, not {scheme}:// "
            "(for websockets: ACTORBUS_NATS_CLIENT=nats-py, or App(..., nats_client='nats-py'))"
        )
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"invalid port in NATS URL {_redacted(url)}") from None
    if not parts.hostname:
        raise ValueError(f"no host in NATS URL {_redacted(url)}")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    token = None
    if user is not None and password is None:
        user, token = None, user
    return ServerUrl(scheme, parts.hostname, port, user, password, token)


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    _, at, host = rest.rpartition("@")
    return f"{scheme}://***@{host}" if at else url


@dataclass(slots=True)
class Auth:
    """Credentials for CONNECT; URL credentials take precedence over these options."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed: str | None = None
    creds: str | None = None

    def fields(self, url: ServerUrl, nonce: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if url.user is not None:
            out.update(user=url.user, **{"pass": url.password})
        elif url.token is not None:
            out["auth_token"] = url.token
        elif self.user is not None:
            out.update(user=self.user, **{"pass": self.password})
        elif self.token is not None:
            out["auth_token"] = self.token
        if self.creds is not None:
            jwt, seed = read_creds(self.creds)
            out["jwt"] = jwt
            out["sig"] = _sign(seed, nonce)
        elif self.nkey_seed is not None:
            seed = self.nkey_seed.strip().encode()
            out["nkey"] = _public_key(seed)
            out["sig"] = _sign(seed, nonce)
        return out


def read_creds(path: str) -> tuple[str, bytes]:
    """The user JWT and the nkey seed of a ``.creds`` file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise HandshakeError(f"cannot read the credentials file: {exc}", fatal=True) from None
    blocks: list[str] = []
    inside: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("---") and "BEGIN" in line:
            inside = []
        elif line.startswith("---") and "END" in line and inside is not None:
            blocks.append("".join(inside))
            inside = None
        elif inside is not None and line:
            inside.append(line)
    if len(blocks) < 2 or not blocks[0] or not blocks[1]:
        raise HandshakeError(f"{path} is not a NATS credentials file (JWT and seed)", fatal=True)
    return blocks[0], blocks[1].encode()


def _nkeys() -> Any:
    try:
        import nkeys  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - nkeys is a dependency
        raise HandshakeError("nkey authentication needs the nkeys package", fatal=True) from None
    return nkeys


def _public_key(seed: bytes) -> str:
    try:
        return str(_nkeys().from_seed(bytearray(seed)).public_key.decode())
    except HandshakeError:
        raise
    except Exception:
        raise HandshakeError("the nkey seed is not valid", fatal=True) from None


def _sign(seed: bytes, nonce: str | None) -> str:
    if not nonce:
        raise HandshakeError("the server sent no nonce to sign (nkey auth not enabled)", fatal=True)
    try:
        signed = _nkeys().from_seed(bytearray(seed)).sign(nonce.encode())
    except HandshakeError:
        raise
    except Exception:
        raise HandshakeError("the nkey seed is not valid", fatal=True) from None
    return base64.urlsafe_b64encode(signed).decode().rstrip("=")


@dataclass(slots=True)
class Link:
    """A connection that finished its handshake; ``leftover`` are events read past the PONG."""

    stream: trio.abc.Stream
    parser: proto.Parser
    info: dict[str, Any]
    url: ServerUrl
    leftover: list[proto.Event] = field(default_factory=list)


@dataclass(slots=True)
class Options:
    """What `handshake` needs besides the URL."""

    auth: Auth
    name: str | None = None
    tls: ssl.SSLContext | None = None
    tls_first: bool = False
    max_message: int = proto.DEFAULT_MAX_MESSAGE


async def handshake(url: ServerUrl, options: Options) -> Link:
    """Connect to ``url``: TCP (TCP_NODELAY), TLS when asked or required, INFO, CONNECT, PING,
    and wait for PONG. The caller bounds the time; on failure the socket is closed."""
    try:
        stream: trio.abc.Stream = await trio.open_tcp_stream(url.host, url.port)
    except OSError as exc:
        raise HandshakeError(_os_reason(exc)) from None
    try:
        return await _negotiate(stream, url, options)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def _negotiate(stream: trio.abc.Stream, url: ServerUrl, options: Options) -> Link:
    if isinstance(stream, trio.SocketStream):
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    if options.tls_first:
        stream = await _start_tls(stream, url, options)
    parser = proto.Parser(max_message=options.max_message)
    events = await _read_events(stream, parser, "INFO")
    first = events.pop(0)
    if not isinstance(first, proto.Info):
        raise HandshakeError(f"the server did not start with INFO ({first!r})")
    info = first.fields
    wants_tls = url.tls or options.tls is not None or bool(info.get("tls_required"))
    if wants_tls and not options.tls_first:
        if not (info.get("tls_required") or info.get("tls_available")):
            raise HandshakeError("TLS was asked for but the server does not offer it", fatal=True)
        stream = await _start_tls(stream, url, options)
    elif info.get("tls_required") and not wants_tls:  # pragma: no cover - covered by wants_tls
        raise HandshakeError("the server requires TLS", fatal=True)
    fields = options.auth.fields(url, info.get("nonce"))
    fields["name"] = options.name
    fields["tls_required"] = wants_tls
    await stream.send_all(proto.connect_command(fields) + proto.PING_COMMAND)
    while True:
        for event in events:
            if event is proto.PONG:
                rest = events[events.index(event) + 1 :]
                return Link(stream, parser, info, url, rest)
            if isinstance(event, proto.Err):
                raise HandshakeError(
                    f"refused: {event.text}",
                    fatal=_fatal_error(event.text),
                    server_error=event.text,
                )
            if event is proto.PING:
                await stream.send_all(proto.PONG_COMMAND)
            if isinstance(event, proto.Info):
                info = {**info, **event.fields}
        events = await _read_events(stream, parser, "PONG")


def _fatal_error(text: str) -> bool:
    lowered = text.lower()
    return "authorization" in lowered or "authentication" in lowered or "tls" in lowered


async def _read_events(
    stream: trio.abc.Stream, parser: proto.Parser, waiting_for: str
) -> list[proto.Event]:
    while True:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError as exc:
            raise _lost(exc, waiting_for) from None
        if not data:
            raise HandshakeError(f"the server closed the connection before {waiting_for}")
        try:
            events = parser.feed(data)
        except proto.ProtocolError as exc:
            raise HandshakeError(f"not a NATS server? {exc}") from None
        if events:
            return events


def _lost(exc: trio.BrokenResourceError, waiting_for: str) -> HandshakeError:
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError):  # an alert: the server refused our certificate
        reason = cause.reason or str(cause)
        return HandshakeError(f"the server refused the TLS session: {reason}", fatal=True)
    detail = str(cause or exc) or type(cause or exc).__name__
    return HandshakeError(f"connection lost while waiting for {waiting_for}: {detail}")


async def _start_tls(
    stream: trio.abc.Stream, url: ServerUrl, options: Options
) -> trio.SSLStream[Any]:
    context = options.tls or ssl.create_default_context()
    tls = trio.SSLStream(stream, context, server_hostname=url.tls_name or url.host)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = str(cause.verify_message or cause.reason or cause)
            what = "TLS hostname mismatch" if "mismatch" in reason.lower() else None
            what = what or "untrusted TLS certificate"
            raise HandshakeError(f"refused: {what}: {reason}", fatal=True) from None
        raise HandshakeError(f"TLS handshake failed: {cause or exc}") from None
    return tls


def _os_reason(exc: OSError) -> str:
    """ "connection refused" when every address refused; else the first error's own text."""
    group = exc.__cause__
    inner = list(group.exceptions) if isinstance(group, BaseExceptionGroup) else [exc]
    if inner and all(isinstance(e, ConnectionRefusedError) for e in inner):
        return "connection refused"
    first = inner[0] if inner else exc
    return getattr(first, "strerror", None) or str(first) or type(first).__name__


async def first_connect(
    servers: list[ServerUrl], options: Options, timeout: float, scrub: Callable[[Exception], str]
) -> Link:
    """One pass over ``servers`` in order, bounded by ``timeout``: a refused port or a bad
    credential fails at once instead of being retried. Raises `HandshakeError` with every
    server's reason."""
    reasons: list[str] = []
    with trio.move_on_after(timeout):
        for server in servers:
            try:
                with trio.fail_after(min(ATTEMPT_TIMEOUT, timeout)):
                    return await handshake(server, options)
            except HandshakeError as exc:
                reasons.append(f"{server.public()}: {scrub(exc)}")
                if exc.fatal:
                    break
            except trio.TooSlowError:
                reasons.append(f"{server.public()}: no answer in time")
    if not reasons:
        reasons.append(f"no answer within {timeout:g} s")
    raise HandshakeError("; ".join(reasons))
