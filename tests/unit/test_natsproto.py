"""The pure NATS protocol module: parsing any split of a stream, clean errors on garbage."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorbus._transport import natsproto as proto

STREAM = (
    b'INFO {"server_id":"x","max_payload":1048576,"headers":true}\r\n'
    b"PING\r\n"
    b"MSG a.b 1 5\r\nhello\r\n"
    b"MSG a.b 2 inbox.1 0\r\n\r\n"
    b"HMSG r.1 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    b"HMSG h.x 4 reply.x 18 21\r\nNATS/1.0\r\nK: v\r\n\r\nabc\r\n"
    b"pong\r\n"
    b"+OK\r\n"
    b"-ERR 'Permissions Violation for Publish to x'\r\n"
    b"msg\ttab.sub\t7\t2\r\n\r\n\r\n"
)


def expected() -> list[proto.Event]:
    return [
        proto.Info({"server_id": "x", "max_payload": 1048576, "headers": True}),
        proto.PING,
        proto.Msg("a.b", 1, None, b"hello"),
        proto.Msg("a.b", 2, "inbox.1", b""),
        proto.Msg("r.1", 3, None, b"", b"NATS/1.0 503\r\n\r\n"),
        proto.Msg("h.x", 4, "reply.x", b"abc", b"NATS/1.0\r\nK: v\r\n\r\n"),
        proto.PONG,
        proto.OK,
        proto.Err("Permissions Violation for Publish to x"),
        proto.Msg("tab.sub", 7, None, b"\r\n"),
    ]


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[proto.Event]:
    parser = proto.Parser()
    events: list[proto.Event] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events


def test_whole_stream() -> None:
    assert proto.Parser().feed(STREAM) == expected()


def test_every_single_split() -> None:
    for cut in range(len(STREAM) + 1):
        assert parse_in_pieces(STREAM, [cut]) == expected(), cut


def test_byte_by_byte() -> None:
    assert parse_in_pieces(STREAM, list(range(len(STREAM)))) == expected()


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_parses_the_same(cuts: list[int]) -> None:
    assert parse_in_pieces(STREAM, cuts) == expected()


@settings(max_examples=400)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=5))
def test_garbage_raises_only_protocol_error(data: bytes, cuts: list[int]) -> None:
    parser = proto.Parser(max_message=1 << 20)
    try:
        start = 0
        for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
            parser.feed(data[start:cut])
            start = cut
    except proto.ProtocolError:
        with pytest.raises(proto.ProtocolError):  # and it stays broken
            parser.feed(b"PING\r\n")


@settings(max_examples=300)
@given(st.data())
def test_valid_prefix_then_garbage(data: st.DataObject) -> None:
    """Mutating one byte of a valid stream never yields anything but events or ProtocolError."""
    index = data.draw(st.integers(min_value=0, max_value=len(STREAM) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255))
    mutated = STREAM[:index] + bytes([value]) + STREAM[index + 1 :]
    try:
        proto.Parser().feed(mutated)
    except proto.ProtocolError:
        pass


@pytest.mark.parametrize(
    "bad",
    [
        b"NOPE\r\n",
        b"MSG a 1\r\n",
        b"MSG a x 3\r\nabc\r\n",
        b"MSG a 1 3\r\nabcXY",
        b"MSG a 1 -1\r\n",
        b"HMSG a 1 40 3\r\n",
        b"INFO [1,2]\r\n",
        b"INFO {not json\r\n",
        b"MSG \xff\xfe 1 0\r\n\r\n",
        b"INFO " + b"[" * 100_000 + b"\r\n",
        b"X" * (proto.MAX_CONTROL_LINE + 10),
    ],
)
def test_malformed_input_is_one_protocol_error(bad: bytes) -> None:
    with pytest.raises(proto.ProtocolError):
        proto.Parser().feed(bad)


def test_oversized_message_refused() -> None:
    with pytest.raises(proto.ProtocolError, match="size"):
        proto.Parser(max_message=10).feed(b"MSG a 1 11\r\n")


def test_commands() -> None:
    assert proto.pub_command("a.b", None, 5) == b"PUB a.b 5\r\n"
    assert proto.pub_command("a.b", "r.1", 0) == b"PUB a.b r.1 0\r\n"
    assert proto.sub_command("a.>", None, 3) == b"SUB a.> 3\r\n"
    assert proto.sub_command("a.*", "q", 4) == b"SUB a.* q 4\r\n"
    assert proto.unsub_command(9) == b"UNSUB 9\r\n"
    line = proto.connect_command({"name": "n", "user": None})
    assert line.startswith(b"CONNECT ") and line.endswith(b"\r\n")
    fields = json.loads(line[8:])
    assert fields["headers"] and fields["no_responders"] and fields["name"] == "n"
    assert "user" not in fields


@pytest.mark.parametrize("subject", ["", "a b", "a\r\nPUB x 1", "tab\there"])
def test_commands_refuse_what_would_break_the_line(subject: str) -> None:
    with pytest.raises(ValueError, match="invalid NATS subject"):
        proto.pub_command(subject, None, 1)
    with pytest.raises(ValueError):
        proto.sub_command("ok", subject or " ", 1)


def test_parse_status() -> None:
    assert proto.parse_status(b"NATS/1.0 503\r\n\r\n") == (503, {})
    assert proto.parse_status(b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n") == (None, {"A": ["1", "2"]})
    with pytest.raises(proto.ProtocolError):
        proto.parse_status(b"HTTP/1.1 200\r\n\r\n")


def test_protocol_module_is_pure() -> None:
    """No I/O and no event loop: the module, loaded on its own, brings in neither trio, asyncio,
    socket nor ssl."""
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('natsproto', {proto.__file__!r})\n"
        "module = sys.modules['natsproto'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps([m for m in ('trio', 'asyncio', 'socket', 'ssl') if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == []


def test_large_payload_in_many_reads() -> None:
    size = 1 << 20
    data = b"HMSG big 1 r 12 %d\r\nNATS/1.0\r\n\r\n" % (size + 12) + bytes(size) + b"\r\nPING\r\n"
    parser = proto.Parser()
    events: list[proto.Event] = []
    for i in range(0, len(data), 1000):
        events += parser.feed(data[i : i + 1000])
    assert events == [proto.Msg("big", 1, "r", bytes(size), b"NATS/1.0\r\n\r\n"), proto.PING]
