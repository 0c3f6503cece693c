"""Headers on the wire and JetStream's shapes (pure): what the client sends and reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actorbus._transport import natsproto as proto
from actorbus._wire import jetstream as js


def test_hpub_counts_the_header_block_in_the_total() -> None:
    block = proto.encode_headers({"Nats-Msg-Id": "a.1"})
    assert block == b"NATS/1.0\r\nNats-Msg-Id: a.1\r\n\r\n"
    assert (
        proto.hpub_command("s", "r", len(block), 5)
        == f"HPUB s r {len(block)} {len(block) + 5}\r\n".encode()
    )
    assert proto.hpub_command("s", None, 12, 0) == b"HPUB s 12 12\r\n"


@pytest.mark.parametrize(
    "headers", [{"": "x"}, {"a b": "x"}, {"a:b": "x"}, {"k": "x\r\nInjected: 1"}, {"k": "\n"}]
)
def test_a_header_that_would_break_the_block_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid NATS header"):
        proto.encode_headers(headers)


def test_a_parsed_hmsg_carries_its_headers_and_status() -> None:
    block = b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 7\r\n\r\n"
    wire = b"HMSG inbox 3 %d %d\r\n%s\r\n" % (len(block), len(block), block)
    (msg,) = proto.Parser().feed(wire)
    assert isinstance(msg, proto.Msg) and msg.headers == block and msg.payload == b""
    assert proto.parse_headers(block) == {
        "Status": "408",
        "Description": "Request Timeout",
        "Nats-Pending-Messages": "7",
    }


@given(st.binary(max_size=200))
def test_parse_headers_never_raises(block: bytes) -> None:
    assert isinstance(proto.parse_headers(block), dict)


@given(
    st.dictionaries(
        st.text("abcXYZ-_019", min_size=1, max_size=8), st.text("ab c:é-9", max_size=12), max_size=4
    )
)
def test_headers_round_trip(headers: dict[str, str]) -> None:
    assert proto.parse_headers(proto.encode_headers(headers)) == {
        k: v.strip() for k, v in headers.items()
    }


def test_ack_subjects_of_both_forms_are_read() -> None:
    old = js.parse_ack_subject("$JS.ACK.S.C.3.10.9.1700000000000000000.0")
    new = js.parse_ack_subject("$JS.ACK.dom.acchash.S.C.3.10.9.1700000000000000000.0.tok")
    assert old == new == js.Delivered("S", "C", 3, 10, 1700000000000000000)
    for bad in (None, "", "x.y", "$JS.ACK.S.C.x.1.1.1.0", "$JS.ACK.S.C.0.1.1.1.0", "$JS.ACK.a"):
        assert js.parse_ack_subject(bad) is None


def test_names_are_one_to_one_and_legal() -> None:
    names = {js.stream_name("p", h) for h in ("a.b_c", "a_b.c", "a.b.c", "a_b_c", "a__b")}
    assert len(names) == 5
    for name in names:
        assert all(c.isalnum() or c in "_-" for c in name)
    assert js.dlq_stream("p") not in names
    a = js.consumer_name("files.example", 417, "POST", "/on-x")
    assert a != js.consumer_name("files.example", 417, "POST", "/on-y")
    assert len(js.consumer_name("x" * 250, 417, "POST", "/p")) <= 64
    assert len(js.stream_name("p", "y." * 120 + "z")) <= 64


def test_streams_capture_events_and_replays_but_never_direct_requests() -> None:
    from actorbus._wire.subjects import direct_subscription, matches, request_subject

    subjects = js.stream_subjects("p", "users.example", 417)
    src = "users.example"
    event = request_subject("p", 417, "users.example", "POST", "/on-deleted", source=src)
    direct = request_subject("p", 417, src, "POST", "/x", source=src, instance="abc")
    every = request_subject("p", 417, src, "POST", "/x", source=src, instance="~all")
    other = request_subject("p", 417, "x.users.example", "POST", "/on-deleted", source=src)
    replay = js.replay_subject(
        "p", "users.example", 417, "POST", "/on-deleted", "c-1", sender="cli.actorbus"
    )
    assert any(matches(s, event) for s in subjects)
    assert any(matches(s, replay) for s in subjects)
    for subject in (direct, every, other):
        assert not any(matches(s, subject) for s in subjects)
    assert not matches(direct_subscription("p", "users.example", "abc"), replay)


def test_api_errors_are_read_and_junk_is_an_error() -> None:
    body = json.dumps(
        {"error": {"code": 404, "err_code": 10059, "description": "stream\nnot found"}}
    )
    _doc, err = js.api_error(body.encode())
    assert err is not None and err.err_code == 10059 and err.description == "stream not found"
    assert js.api_error(b"{}")[1] is None
    for junk in (b"", b"[]", b"\xff", b"null"):
        assert js.api_error(junk)[1] is not None


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [js.backoff(n) for n in range(1, 12)]
    assert delays[:3] == [0.5, 1.0, 2.0] and max(delays) == js.BACKOFF_CAP
    assert json.loads(js.nak(1.5)[5:]) == {"delay": 1_500_000_000}
