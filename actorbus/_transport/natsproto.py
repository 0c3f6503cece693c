"""The core-NATS client protocol as pure code: bytes in, events out (as h11 does for HTTP).

No I/O and no Trio here, so the parser can be tested on any split of any byte stream. `Parser`
turns what the server sent into `Info`, `Msg`, `PING`, `PONG`, `OK` and `Err` events; the
``*_command`` functions build what the client sends. Anything malformed raises one
`ProtocolError`, never another exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "NO_RESPONDERS_STATUS",
    "OK",
    "PING",
    "PING_COMMAND",
    "PONG",
    "PONG_COMMAND",
    "Err",
    "Event",
    "Info",
    "Msg",
    "Parser",
    "ProtocolError",
    "check_info",
    "connect_command",
    "encode_headers",
    "hpub_command",
    "parse_headers",
    "parse_status",
    "pub_command",
    "sub_command",
    "unsub_command",
]

#: Longest control line accepted from the server (nats-server's own limit is 4096 by default;
#: an INFO with a long ``connect_urls`` list can be larger).
MAX_CONTROL_LINE: Final = 64 * 1024
#: Largest message accepted from the server unless the caller says otherwise.
DEFAULT_MAX_MESSAGE: Final = 64 * 1024 * 1024
#: Header block of the status nats-server sends for a request nobody is subscribed to.
NO_RESPONDERS_STATUS: Final = b"NATS/1.0 503"

PING_COMMAND: Final = b"PING\r\n"
PONG_COMMAND: Final = b"PONG\r\n"

# A subject or queue token may not be empty or contain whitespace (it would split the line).
_WHITESPACE = re.compile(r"\s").search
# The common case, a whole ``MSG subject sid [reply] size`` line, in one C call.
_MSG_LINE = re.compile(
    rb"MSG[ \t]+([^ \t\r\n]+)[ \t]+(\d+)(?:[ \t]+([^ \t\r\n]+))?[ \t]+(\d+)[ \t]*\r\n"
)


class ProtocolError(Exception):
    """The server sent something that is not the NATS protocol (or the client was asked to)."""


@dataclass(slots=True, frozen=True)
class Info:
    """The server's ``INFO``: ``max_payload``, ``nonce``, ``connect_urls``, ``ldm`` …"""

    fields: dict[str, Any]


@dataclass(slots=True)
class Msg:
    """One ``MSG``/``HMSG``; ``headers`` is the raw header block (``None`` for ``MSG``)."""

    subject: str
    sid: int
    reply: str | None
    payload: bytes
    headers: bytes | None = None


@dataclass(slots=True, frozen=True)
class Err:
    """``-ERR '<text>'``; ``text`` without the quotes."""

    text: str

    @property
    def permission_violation(self) -> bool:
        """The server refused one publish or subscription; the connection stays open."""
        return self.text.lower().startswith("permissions violation")


class _Control(str):
    """The argument-less server operations (``PING``, ``PONG``, ``+OK``)."""

    __slots__ = ()


PING: Final = _Control("PING")
PONG: Final = _Control("PONG")
OK: Final = _Control("+OK")

Event = Info | Msg | Err | _Control


class Parser:
    """Incremental parser of the server → client stream.

    ``feed(data)`` returns the events completed by ``data``; partial input is kept for the next
    call. After a `ProtocolError` the parser refuses further input (the connection is unusable).
    """

    __slots__ = ("_acc", "_broken", "_buf", "_max_message", "_pending")

    def __init__(self, *, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._buf = b""
        #: Collects the rest of a message that needs more bytes than have arrived (so a large
        #: payload arriving in many reads is copied once, not once per read).
        self._acc: bytearray | None = None
        self._max_message = max_message
        #: A MSG/HMSG whose control line was read: (subject, sid, reply, header size, total).
        self._pending: tuple[str, int, str | None, int, int] | None = None
        self._broken: ProtocolError | None = None

    def feed(self, data: bytes | bytearray) -> list[Event]:
        if self._broken is not None:
            raise self._broken
        acc = self._acc
        if acc is not None:
            acc += data
            if self._pending is not None and len(acc) < self._pending[4] + 2:
                return []
            buf, self._acc = bytes(acc), None
        else:
            buf = self._buf + data if self._buf else bytes(data)
        try:
            events, used = self._parse(buf)
        except ProtocolError as exc:
            self._broken = exc
            raise
        except (ValueError, IndexError, RecursionError) as exc:  # int(), decode(), json
            self._broken = ProtocolError(f"malformed data from the server: {exc}")
            raise self._broken from None
        rest = buf[used:] if used < len(buf) else b""
        pending = self._pending
        if pending is not None and len(rest) < pending[4] + 2:
            self._acc, self._buf = bytearray(rest), b""
        else:
            self._buf = rest
        return events

    def _parse(self, buf: bytes) -> tuple[list[Event], int]:
        events: list[Event] = []
        pos = 0
        size = len(buf)
        while True:
            pending = self._pending
            if pending is not None:
                subject, sid, reply, hdr, total = pending
                end = pos + total
                if size < end + 2:
                    break
                if buf[end : end + 2] != b"\r\n":
                    raise ProtocolError("a message payload is not followed by CRLF")
                if hdr:
                    events.append(
                        Msg(subject, sid, reply, buf[pos + hdr : end], buf[pos : pos + hdr])
                    )
                else:
                    events.append(Msg(subject, sid, reply, buf[pos:end]))
                self._pending = None
                pos = end + 2
                continue
            match = _MSG_LINE.match(buf, pos)
            if match is not None:
                subject_b, sid_b, reply_b, size_b = match.groups()
                total = int(size_b)
                if total > self._max_message:
                    raise ProtocolError(f"bad message size {total}")
                self._pending = (
                    subject_b.decode(),
                    int(sid_b),
                    reply_b.decode() if reply_b is not None else None,
                    0,
                    total,
                )
                pos = match.end()
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if size - pos > MAX_CONTROL_LINE:
                    raise ProtocolError("control line too long")
                break
            if eol - pos > MAX_CONTROL_LINE:
                raise ProtocolError("control line too long")
            line = buf[pos:eol]
            pos = eol + 2
            head = line[:4]
            if head == b"MSG " or head == b"HMSG" or head.upper() in (b"MSG ", b"MSG\t", b"HMSG"):
                self._pending = self._message_line(line)
                continue
            events.append(_control(line))
        return events, pos

    def _message_line(self, line: bytes) -> tuple[str, int, str | None, int, int]:
        parts = line.split()
        op = parts[0].upper()
        if op == b"MSG" and len(parts) in (4, 5):
            hdr, total = 0, int(parts[-1])
        elif op == b"HMSG" and len(parts) in (5, 6):
            hdr, total = int(parts[-2]), int(parts[-1])
            if hdr < len(b"NATS/1.0\r\n\r\n") or hdr > total:
                raise ProtocolError(f"bad header size in {_show(line)}")
        else:
            raise ProtocolError(f"malformed message line {_show(line)}")
        if total < 0 or total > self._max_message:
            raise ProtocolError(f"bad message size in {_show(line)}")
        has_reply = len(parts) == (5 if op == b"MSG" else 6)
        reply = parts[3].decode() if has_reply else None
        sid = int(parts[2])
        return parts[1].decode(), sid, reply, hdr, total


def _control(line: bytes) -> Event:
    op, _, rest = line.partition(b" ")
    if b"\t" in op:
        op, _, tail = op.partition(b"\t")
        rest = tail + (b" " + rest if rest else b"")
    op = op.upper()
    if op == b"PING" and not rest.strip():
        return PING
    if op == b"PONG" and not rest.strip():
        return PONG
    if op == b"+OK" and not rest.strip():
        return OK
    if op == b"-ERR":
        return Err(rest.strip().strip(b"'").decode(errors="replace"))
    if op == b"INFO":
        fields = json.loads(rest)
        if not isinstance(fields, dict):
            raise ProtocolError("INFO is not a JSON object")
        return Info(check_info(fields))
    raise ProtocolError(f"unknown operation {_show(line)}")


_INFO_TYPES: Final[dict[str, type]] = {
    **dict.fromkeys(("server_id", "server_name", "version", "go", "host", "nonce"), str),
    **dict.fromkeys(("port", "proto", "client_id", "max_payload"), int),
    **dict.fromkeys(
        ("headers", "auth_required", "tls_required", "tls_available", "tls_verify", "ldm"), bool
    ),
}
_URL_LISTS: Final = ("connect_urls", "ws_connect_urls")


def check_info(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` unchanged when the INFO fields the client reads have the right types (and
    ``max_payload`` is positive); else `ProtocolError` naming the field. Unknown fields pass."""
    for name, kind in _INFO_TYPES.items():
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(f"INFO field {name!r} is not a {kind.__name__}: {value!r:.40}")
    payload = fields.get("max_payload")
    if payload is not None and payload <= 0:
        raise ProtocolError(f"INFO field 'max_payload' is not positive: {payload!r}")
    for name in _URL_LISTS:
        urls = fields.get(name)
        if urls is not None and not (
            isinstance(urls, list) and all(isinstance(u, str) for u in urls)
        ):
            raise ProtocolError(f"INFO field {name!r} is not a list of addresses: {urls!r:.40}")
    return fields


def _show(line: bytes, limit: int = 80) -> str:
    text = repr(line[:limit])
    return text + ("…" if len(line) > limit else "")


def parse_status(headers: bytes) -> tuple[int | None, dict[str, list[str]]]:
    """Status code (``503`` for no responders) and the ``Key: Value`` lines of a header block."""
    lines = headers.decode(errors="replace").split("\r\n")
    first = lines[0].split(None, 2)
    if not first or first[0] != "NATS/1.0":
        raise ProtocolError("header block does not start with NATS/1.0")
    status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None
    values: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        key, sep, value = line.partition(":")
        if sep:
            values.setdefault(key.strip(), []).append(value.strip())
    return status, values


# -- client → server --------------------------------------------------------------------------


def check_token(kind: str, value: str) -> str:
    """A subject, reply or queue name, unchanged; ValueError when it cannot be sent."""
    if not value or _WHITESPACE(value):
        raise ValueError(f"invalid NATS {kind} {value!r}: empty or contains whitespace")
    return value


def pub_command(subject: str, reply: str | None, size: int) -> bytes:
    """The ``PUB`` control line (CRLF included); the payload and a CRLF follow it."""
    if not subject or _WHITESPACE(subject):
        check_token("subject", subject)
    if reply:
        if _WHITESPACE(reply):
            check_token("reply subject", reply)
        return f"PUB {subject} {reply} {size}\r\n".encode()
    return f"PUB {subject} {size}\r\n".encode()


def hpub_command(subject: str, reply: str | None, header_size: int, size: int) -> bytes:
    """The ``HPUB`` control line: ``header_size`` bytes of headers then the payload follow."""
    if not subject or _WHITESPACE(subject):
        check_token("subject", subject)
    total = header_size + size
    if reply:
        if _WHITESPACE(reply):
            check_token("reply subject", reply)
        return f"HPUB {subject} {reply} {header_size} {total}\r\n".encode()
    return f"HPUB {subject} {header_size} {total}\r\n".encode()


_HEADER_KEY_BAD = re.compile(r"[\s:]").search
_HEADER_VALUE_BAD = re.compile(r"[\r\n]").search


_GOOD_KEYS: set[str] = set()  # keys already checked (a few distinct ones, sent again and again)


def _good_key(key: str) -> bool:
    if not key or _HEADER_KEY_BAD(key):
        return False
    if len(_GOOD_KEYS) < 1024:
        _GOOD_KEYS.add(key)
    return True


def encode_headers(headers: dict[str, str]) -> bytes:
    """The ``NATS/1.0`` header block of ``headers``; ValueError for a key or value that would
    break the block (empty key, whitespace or ``:`` in a key, CR/LF in a value)."""
    parts = ["NATS/1.0\r\n"]
    for key, value in headers.items():
        if _HEADER_VALUE_BAD(value) or (key not in _GOOD_KEYS and not _good_key(key)):
            raise ValueError(f"invalid NATS header {key!r}: {value!r:.40}")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode()


def parse_headers(block: bytes) -> dict[str, str]:
    """``Key: Value`` lines of a header block (the last value of a repeated key), with an
    inline status as ``Status`` and ``Description`` (as nats-py does). Never raises: a block
    a peer malformed yields what could be read, or ``{}``."""
    lines = block.decode(errors="replace").split("\r\n")
    first = lines[0].split(None, 2)
    if not first or first[0] != "NATS/1.0":
        return {}
    out: dict[str, str] = {}
    if len(first) > 1 and first[1].isdigit():
        out["Status"] = first[1]
        if len(first) > 2:
            out["Description"] = first[2].strip()
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def sub_command(subject: str, queue: str | None, sid: int) -> bytes:
    check_token("subject", subject)
    if queue:
        return f"SUB {subject} {check_token('queue group', queue)} {sid}\r\n".encode()
    return f"SUB {subject} {sid}\r\n".encode()


def unsub_command(sid: int) -> bytes:
    return b"UNSUB %d\r\n" % sid


def connect_command(options: dict[str, Any]) -> bytes:
    """``CONNECT {json}`` with the options every actorbus connection needs, plus ``options``
    (name, credentials, signature …)."""
    fields: dict[str, Any] = {
        "verbose": False,
        "pedantic": False,
        "protocol": 1,
        "headers": True,
        "no_responders": True,
        "lang": "python-trio",
        "echo": True,
    }
    fields.update({k: v for k, v in options.items() if v is not None})
    return b"CONNECT " + json.dumps(fields, separators=(",", ":")).encode() + b"\r\n"
