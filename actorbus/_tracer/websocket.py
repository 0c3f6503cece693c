"""The live tracer: spans from the bus, streamed as JSON over websockets, plus the browser page.

One TCP port serves both: h11 reads each request head; a websocket upgrade is handed to
trio-websocket (the head is replayed to it), anything else gets the static page (``GET /``), the
span schema (``GET /schema.json``) or a 404. Each websocket client has a bounded queue: when it
is full, that client's oldest spans are dropped and counted (a client that does not read costs
the others nothing), and the next message it gets is a notice ``{"notice": "dropped", "count":
N}``. Log lines about refused clients are rate-limited (`LogLimiter`). Query-string filters:
``host=``, ``trace_id=``, ``errors=1``.

The websocket refuses a browser ``Origin`` other than the tracer page's own (non-browser clients
send none), so no other web page open in the user's browser can read the spans; when bound to
loopback (the default) it also wants a loopback ``Host``, which defeats DNS rebinding.

While at least one client is attached, the server announces itself on ``<plane>.trace-ctl``
so the actors start publishing spans; when the last client leaves it says "off". With a
``history`` (the last N spans, see `history`), it listens all the time instead, and a client
that attaches later first gets the remembered spans that pass its filters.
"""

from __future__ import annotations

import importlib.resources
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import h11
import msgspec
import trio
import trio_websocket

from .._observe import spans as _trace
from .._observe.spans import Span, TraceCtl
from .._transport.base import Message, Subscription, Transport
from .._transport.credentials import Credentials
from .clients import Client, LogLimiter
from .history import DEFAULT_HISTORY, History
from .http import Replay, is_websocket, origin_allowed, read_head, responder
from .terminal import run_trace_client

__all__ = [
    "TracerServer",
    "TracerStats",
    "origin_allowed",
    "parse_listen",
    "run_trace_client",
    "serve_tracer",
]

log = logging.getLogger("actorbus.tracer")

DEFAULT_LISTEN: Final = "127.0.0.1:4280"
_HEAD_TIMEOUT: Final = 10.0
_CLOSE_TIMEOUT: Final = 2.0
_json: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class TracerStats:
    """A snapshot of the tracer server's counters."""

    clients: int
    spans_received: int
    messages_sent: int
    dropped: int
    bad_batches: int
    connections: int
    refused: int = 0  # websocket upgrades refused (origin, too many clients)


def _page() -> bytes:
    return importlib.resources.files("actorbus._tracer").joinpath("static/tracer.html").read_bytes()


class TracerServer:
    """Serves the live tracer for one plane of one bus (a `Transport` it does not own)."""

    def __init__(
        self,
        transport: Transport,
        plane: str,
        *,
        queue_size: int = 2048,
        ttl: float = 6.0,
        max_clients: int = 1000,
        history: int = 0,
    ) -> None:
        self.transport = transport
        self.plane = plane
        self.queue_size = queue_size
        self.ttl = ttl
        self.max_clients = max_clients
        self.id = secrets.token_hex(6)
        self.port = 0
        self._listen_host = "127.0.0.1"
        self._clients: set[Client] = set()
        self._limited = LogLimiter(log)
        self._subs: list[Subscription] = []
        self._ctl = _trace.control_subject(plane)
        self._wake = trio.Event()
        self._clients_changed = trio.Event()
        self._received = self._sent = self._dropped_gone = self._bad = self._conns = 0
        self._refused = 0
        self.history = History(history)  # the last spans, for clients that attach later

    def statistics(self) -> TracerStats:
        dropped = self._dropped_gone + sum(c.total_dropped for c in self._clients)
        return TracerStats(
            clients=len(self._clients),
            spans_received=self._received,
            messages_sent=self._sent,
            dropped=dropped,
            bad_batches=self._bad,
            connections=self._conns,
            refused=self._refused,
        )

    async def wait_clients(self, n: int) -> None:
        """Return once at least ``n`` websocket clients are attached."""
        while len(self._clients) < n:
            await self._clients_changed.wait()
        await trio.lowlevel.checkpoint()

    def _changed(self) -> None:
        self._wake.set()
        self._clients_changed.set()
        self._clients_changed = trio.Event()

    # -- the bus side ----------------------------------------------------------------------

    def _announce(self, op: str) -> None:
        ctl = TraceCtl("on", self.id, self.ttl) if op == "on" else TraceCtl("off", self.id)
        try:
            self.transport.publish(self._ctl, _trace.encode_ctl(ctl))
        except Exception as exc:
            log.debug("could not announce the tracer %s: %r", op, exc)

    def _listening(self) -> bool:
        return bool(self._clients) or self.history.size > 0

    def _on_ctl(self, msg: Message) -> None:
        if self._listening() and msg.data == _trace.encode_ctl(TraceCtl("query")):
            self._announce("on")

    def _on_spans(self, msg: Message) -> None:
        try:
            spans = _trace.decode_spans(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._bad += 1
            return
        self._received += len(spans)
        self.history.add(spans)
        clients = self._clients
        for span in spans:
            text: str | None = None
            for client in clients:
                if client.filter.wants(span):
                    if text is None:
                        text = _json.encode(span).decode()
                    client.offer(text)

    async def _heartbeat(self) -> None:
        """Say "on" every ttl/3 while clients are attached; "off" when the last one leaves."""
        while True:
            while not self._listening():
                await self._wake.wait()
                self._wake = trio.Event()
            self._announce("on")
            with trio.move_on_after(self.ttl / 3):
                while self._listening():
                    await self._wake.wait()
                    self._wake = trio.Event()
            if not self._listening():
                self._announce("off")

    # -- the HTTP side -----------------------------------------------------------------------

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 4280,
        *,
        task_status: trio.TaskStatus[TracerServer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until cancelled; ``port=0`` picks a free one (then read ``self.port``)."""
        try:
            self._subs.append(
                await self.transport.subscribe(_trace.span_wildcard(self.plane), self._on_spans)
            )
            self._subs.append(await self.transport.subscribe(self._ctl, self._on_ctl))
            query = self._ctl + ".query"  # where hubs ask who traces
            self._subs.append(await self.transport.subscribe(query, self._on_ctl))
            await self.transport.flush()
            async with trio.open_nursery() as nursery:
                listeners = await trio.open_tcp_listeners(port, host=host)
                self.port = listeners[0].socket.getsockname()[1]
                self._listen_host = host
                nursery.start_soon(self._heartbeat)
                await nursery.start(trio.serve_listeners, self._on_connection, listeners)
                log.info("tracer on http://%s:%d (plane %s)", host, self.port, self.plane)
                task_status.started(self)
        finally:
            with trio.CancelScope(shield=True):
                if self._clients:
                    self._clients.clear()
                    self._announce("off")
                for sub in self._subs:
                    try:
                        await sub.unsubscribe()
                    except Exception as exc:
                        log.debug("could not unsubscribe: %r", exc)
                self._subs.clear()

    async def _on_connection(self, stream: trio.SocketStream) -> None:
        self._conns += 1
        try:
            with trio.move_on_after(_HEAD_TIMEOUT):
                head = await read_head(stream)
            if head is None:
                return
            conn, request, raw = head
            respond = responder(conn, stream)
            if isinstance(request, int):
                await respond(request, b"bad request\n", "text/plain")
                return
            target = request.target.decode("latin-1")
            path, _, query = target.partition("?")
            if is_websocket(request):
                if not origin_allowed(request.headers, self._listen_host, self.port):
                    self._refused += 1
                    self._limited.warning(
                        "origin", "tracer: refused a websocket opened by another web page"
                    )
                    await respond(403, b"cross-origin tracer websocket refused\n", "text/plain")
                    return
                await self._serve_websocket(Replay(stream, raw), query)
            elif request.method != b"GET":
                await respond(405, b"method not allowed\n", "text/plain")
            elif path in ("/", "/index.html", "/tracer.html"):
                await respond(200, _page(), "text/html; charset=utf-8")
            elif path == "/schema.json":
                await respond(200, schema_json(), "application/json")
            else:
                await respond(404, b"not found\n", "text/plain")
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError) as exc:
            log.debug("tracer connection ended: %r", exc)
        except Exception as exc:
            self._limited.warning("failed", "tracer connection failed: %r", exc)
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve_websocket(self, stream: Replay, query: str) -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(
                nursery, stream, message_queue_size=4, max_message_size=4096
            )
            if len(self._clients) >= self.max_clients:
                self._refused += 1
                self._limited.warning(
                    "full", "tracer: refused a client (%d attached)", self.max_clients
                )
                await request.reject(503, body=b"too many tracer clients\n")
                nursery.cancel_scope.cancel()
                return
            ws = await request.accept()
            client = Client(query, self.queue_size)
            try:
                # No await from the replay to `add`: each span is either replayed or live, once;
                # the writer sends what is queued only after the hello.
                replayed = self.history.replay(client.filter.wants, self.queue_size)
                for span in replayed:
                    client.offer(_json.encode(span).decode())
                self._clients.add(client)
                self._changed()
                hello: dict[str, Any] = {"notice": "hello", "plane": self.plane}
                hello |= {"filter": client.filter.describe(), "history": len(replayed)}
                await ws.send_message(_json.encode(hello).decode())
                async with trio.open_nursery() as inner:
                    inner.start_soon(self._reader, ws, inner.cancel_scope.cancel)
                    inner.start_soon(self._writer, ws, client, inner.cancel_scope.cancel)
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                self._clients.discard(client)
                self._dropped_gone += client.total_dropped
                client.close()
                self._changed()
                with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                    scope.shield = True
                    await ws.aclose()
                nursery.cancel_scope.cancel()

    async def _reader(
        self, ws: trio_websocket.WebSocketConnection, done: Callable[[], Any]
    ) -> None:
        """Clients have nothing to say: read (so pings and closes work) and ignore."""
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            done()

    async def _writer(
        self, ws: trio_websocket.WebSocketConnection, client: Client, done: Callable[[], Any]
    ) -> None:
        try:
            while (text := await client.next()) is not None:
                if client.dropped:
                    missed, client.dropped = client.dropped, 0
                    notice = {"notice": "dropped", "count": missed, "total": client.total_dropped}
                    await ws.send_message(_json.encode(notice).decode())
                await ws.send_message(text)
                self._sent += 1
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            done()


def schema_json() -> bytes:
    """The JSON schema of `Span` (what each websocket message is, notices aside)."""
    return msgspec.json.format(msgspec.json.encode(msgspec.json.schema(Span)), indent=2)


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4280`` for IPv6; ``:4280`` means 127.0.0.1) → (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


async def serve_tracer(
    nats_url: str,
    listen: str,
    *,
    plane: str = "",
    queue_size: int = 2048,
    credentials: Credentials | None = None,
    history: int = DEFAULT_HISTORY,
    task_status: trio.TaskStatus[TracerServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect to ``nats_url`` and serve the tracer on ``listen`` until cancelled (the plane
    defaults to ``ACTORBUS_PLANE`` or "actorbus", as for `App`); with ``credentials`` (a
    `Credentials`) it connects as their edge identity. It remembers the last ``history``
    spans for clients that attach later (0: none, and spans flow only while someone watches)."""
    from .._app import default_plane, open_bus

    host, port = parse_listen(listen)
    identity = credentials.edge if credentials is not None else None
    async with open_bus(nats_url, identity) as transport:
        server = TracerServer(
            transport, plane or default_plane(), queue_size=queue_size, history=history
        )
        await server.serve(host, port, task_status=task_status)
