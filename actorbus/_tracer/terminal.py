"""``actorbus trace``: attach to the tracer's websocket and show traces as indented trees.

Spans of one trace are collected until the trace's root arrives (plus a short settle time for
stragglers such as fire-and-forget sinks), or a few seconds pass; then the trace is printed as a
tree: caller → handler → the calls it made. A client span and the server span it caused are
shown on one line. ``--json`` prints every span (and notice) as it arrives, one JSON per line.
Traces that are background noise (rooted in a control-plane call such as ``describe`` or
``ping``, or in a ticker beat) are folded away unless ``show_all`` (``actorbus trace --all``).
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Final, TextIO

import msgspec
import trio

from .._observe.spans import Span

__all__ = ["TraceBuffer", "TracerGone", "is_background", "render_trace", "run_trace_client"]

_SETTLE: Final = 0.3  # after the root span arrived
_MAX_WAIT: Final = 3.0  # after the first span, root or not
_span_decoder: Final = msgspec.json.Decoder(Span)

RED, GREEN, YELLOW, DIM, BOLD, RESET = (
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[2m",
    "\x1b[1m",
    "\x1b[0m",
)


class TracerGone(ConnectionError):
    """The live tracer closed the connection (or its process went away)."""


def _failed(span: Span) -> bool:
    return span.error is not None or span.status >= 400


def _line(client: Span | None, server: Span | None, color: bool) -> str:
    main = client or server
    assert main is not None
    paint: Callable[[str, str], str] = (
        (lambda c, s: f"{c}{s}{RESET}") if color else (lambda c, s: s)
    )
    failed = any(s is not None and _failed(s) for s in (client, server))
    status = max((s.status for s in (client, server) if s is not None), default=0)
    if main.kind == "ticker":
        what = f"tick {main.to_host}{main.path}"
    else:
        what = f"{main.method} {main.to_host}:{main.port}{main.path}"
    parts = [paint(RED + BOLD, what) if failed else what]
    parts.append(paint(RED, str(status)) if failed else paint(GREEN, str(status)))
    if client is not None and server is not None:
        parts.append(f"{client.duration_ms:.2f} ms (handler {server.duration_ms:.2f} ms)")
    else:
        parts.append(f"{main.duration_ms:.2f} ms")
    if main.kind not in ("call", "ticker"):
        parts.append(paint(YELLOW, f"[{main.kind}]"))
    origin = main.from_host if main.kind != "ticker" else ""
    if origin:
        parts.append(paint(DIM, f"from {origin}"))
    err = (server.error if server is not None else None) or (client.error if client else None)
    if err is not None:
        parts.append(paint(RED, f"{err.type}: {err.message}"))
    return "  ".join(parts)


def is_background(spans: Iterable[Span]) -> bool:
    """A trace rooted in a control-plane call or a ticker beat (folded away by default)."""
    ordered = sorted(spans, key=lambda s: s.start)
    ids = {s.span_id for s in ordered}
    roots = [s for s in ordered if s.parent_id not in ids] or ordered[:1]
    return bool(roots) and all(s.kind in ("control", "ticker") for s in roots)


def render_trace(spans: Iterable[Span], *, color: bool = False) -> list[str]:
    """The lines of one trace's tree, roots first, children in start order."""
    spans = sorted(spans, key=lambda s: s.start)
    if not spans:
        return []
    by_id = {s.span_id: s for s in spans}
    children: dict[str | None, list[Span]] = {}
    for s in spans:
        parent = s.parent_id if s.parent_id in by_id else None
        children.setdefault(parent, []).append(s)
    head = f"trace {spans[0].trace_id}"
    lines = [f"{BOLD}{head}{RESET}" if color else head]

    def walk(span: Span, depth: int) -> None:
        kids = children.get(span.span_id, [])
        server = None
        if span.side == "client":
            servers = [k for k in kids if k.side == "server"]
            if len(servers) == 1:
                server = servers[0]
                kids = [k for k in kids if k is not server] + children.get(server.span_id, [])
                kids.sort(key=lambda s: s.start)
            line = _line(span, server, color)
        else:
            line = _line(None, span, color)
        lines.append("  " * (depth + 1) + ("└ " if depth else "") + line)
        for kid in kids:
            walk(kid, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return lines


class TraceBuffer:
    """Groups spans by trace and says when a trace is ready to print (time passed in)."""

    def __init__(self, settle: float = _SETTLE, max_wait: float = _MAX_WAIT) -> None:
        self.settle = settle
        self.max_wait = max_wait
        self._spans: dict[str, list[Span]] = {}
        self._due: dict[str, float] = {}

    def add(self, span: Span, now: float) -> None:
        self._spans.setdefault(span.trace_id, []).append(span)
        due = self._due.get(span.trace_id, now + self.max_wait)
        if span.parent_id is None:
            due = min(due, now + self.settle)
        self._due[span.trace_id] = due

    def next_due(self) -> float:
        return min(self._due.values(), default=float("inf"))

    def pop_ready(self, now: float) -> list[list[Span]]:
        ready = [t for t, due in self._due.items() if due <= now]
        out = []
        for trace_id in sorted(ready, key=lambda t: self._due[t]):
            del self._due[trace_id]
            out.append(self._spans.pop(trace_id))
        return out

    def pop_all(self) -> list[list[Span]]:
        out = list(self._spans.values())
        self._spans.clear()
        self._due.clear()
        return out


def _use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


async def run_trace_client(
    url: str,
    *,
    json_lines: bool,
    show_all: bool = False,
    out: TextIO | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Attach to the tracer at ``url`` (``ws://host:port[/?host=…&trace_id=…&errors=1]``) and
    print until cancelled. Raises `TracerGone` when the tracer closes the connection."""
    import trio_websocket

    stream = out if out is not None else sys.stdout
    color = _use_color(stream)
    if "://" not in url:
        url = "ws://" + url
    buffer = TraceBuffer()

    def show(traces: list[list[Span]]) -> None:
        for spans in traces:
            if not show_all and is_background(spans):
                continue
            print("\n".join(render_trace(spans, color=color)), file=stream, flush=True)

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        raise ConnectionError(f"{url}: expected ws://HOST:PORT")
    resource = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    tcp: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    try:
        if parsed.scheme == "wss":  # a tracer behind a TLS proxy
            tcp = await trio.open_ssl_over_tcp_stream(
                parsed.hostname, parsed.port or 443, ssl_context=ssl.create_default_context()
            )
        else:
            tcp = await trio.open_tcp_stream(parsed.hostname, parsed.port or 80)
    except OSError as exc:
        raise ConnectionError(f"no live tracer answers at {url} ({exc!r})") from None
    gone: TracerGone | None = None
    # We own the TCP stream: trio-websocket leaves it open when the peer vanishes abruptly.
    async with tcp, trio.open_nursery() as nursery:
        try:
            ws = await trio_websocket.wrap_client_stream(nursery, tcp, parsed.hostname, resource)
        except trio_websocket.HandshakeError as exc:  # not a tracer: an OSError for the CLI
            nursery.cancel_scope.cancel()
            raise ConnectionError(f"no live tracer answers at {url} ({exc!r})") from None
        task_status.started()
        try:
            while True:
                with trio.move_on_at(buffer.next_due()):
                    text = await ws.get_message()
                    if json_lines:
                        print(text if isinstance(text, str) else text.decode(), file=stream)
                        stream.flush()
                        continue
                    try:
                        span = _span_decoder.decode(text)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        _notice(text, stream, color, show_all)
                        continue
                    buffer.add(span, trio.current_time())
                show(buffer.pop_ready(trio.current_time()))
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            why = "connection lost"
            if reason is not None:
                why = f"code {reason.code}" + (f", {reason.reason}" if reason.reason else "")
            gone = TracerGone(f"the live tracer at {url} went away ({why})")
        finally:
            if not json_lines:
                show(buffer.pop_all())
            nursery.cancel_scope.cancel()
    if gone is not None:
        raise gone


def _notice(text: str | bytes, stream: TextIO, color: bool, show_all: bool = False) -> None:
    try:
        notice = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return
    if not isinstance(notice, dict):
        return
    if notice.get("notice") == "dropped":
        msg = f"(tracer dropped {notice.get('count')} spans: this terminal is too slow)"
        print(f"{YELLOW}{msg}{RESET}" if color else msg, file=stream, flush=True)
    elif notice.get("notice") == "hello":
        earlier = notice.get("history") or 0
        msg = f"attached to plane {notice.get('plane')}" + (
            f"; {earlier} earlier spans first" if earlier else "; waiting for calls…"
        )
        if not show_all:
            msg += " (control calls and ticker beats folded: --all shows them)"
        print(f"{DIM}{msg}{RESET}" if color else msg, file=stream, flush=True)
