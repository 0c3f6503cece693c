"""Frames on the wire: round trips, schema evolution, and malformed input (sync, no trio)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorbus._wire import frames as _frames
from actorbus._wire.frames import Ack, Cancel, Fault, FrameError, Request, Response

FRAME_TYPES = (Request, Ack, Response, Fault, Cancel)

BODY = _frames.encode_body({"user_id": "u1", "n": 3, "tags": ["a", "b"]})

SAMPLES: dict[str, Any] = {
    "request": Request(
        msg_id="1f",
        from_host="users.example",
        from_instance="abc123",
        host="files.example",
        port=443,
        method="POST",
        path="/delete-user",
        depth=3,
        budget_ms=19_750,
        body=BODY,
        multicast=True,
        trace_id="t-1",
        span_id="s-1",
        oneway=True,
    ),
    "request-defaults": Request(
        msg_id="2",
        from_host="users.example",
        from_instance="abc123",
        host="files.example",
        port=417,
        method="POST",
        path="/on-user-deleted",
        depth=1,
        budget_ms=0,
    ),
    "ack": Ack(
        msg_id="1f", from_host="files.example", from_instance="def456", queue="files.example"
    ),
    "response": Response(
        msg_id="1f",
        from_host="files.example",
        from_instance="def456",
        queue="files.example",
        body=_frames.encode_body([1, "two", None, 4.5]),
    ),
    "response-defaults": Response(
        msg_id="1f", from_host="files.example", from_instance="def456", queue="files.example"
    ),
    "fault": Fault(
        msg_id="1f",
        from_host="files.example",
        from_instance="def456",
        queue="files.example",
        status=404,
        type="HTTPError",
        message="no such user",
        traceback="Traceback (most recent call last):\n  ...\n",
    ),
    "fault-defaults": Fault(
        msg_id="1f",
        from_host="files.example",
        from_instance="def456",
        queue="files.example",
        status=500,
        type="ValueError",
        message="boom",
    ),
    "cancel": Cancel(msg_id="1f", from_host="users.example", from_instance="abc123"),
}

TAGS = {Request: "req", Ack: "ack", Response: "res", Fault: "err", Cancel: "cancel"}


def _as_dict(frame: Any) -> dict[str, Any]:
    return {f: getattr(frame, f) for f in frame.__struct_fields__}


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_round_trip(name: str) -> None:
    frame = SAMPLES[name]
    data = _frames.encode(frame)
    assert isinstance(data, bytes)
    back = _frames.decode(data)
    assert type(back) is type(frame)
    assert back == frame
    for field, value in _as_dict(frame).items():
        got = getattr(back, field)
        if isinstance(value, msgspec.Raw):
            assert isinstance(got, msgspec.Raw)
            assert bytes(got) == bytes(value)
        else:
            assert got == value, field


def test_every_frame_kind_is_sampled() -> None:
    assert {type(f) for f in SAMPLES.values()} == set(FRAME_TYPES)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_wire_tag(name: str) -> None:
    """The ``op`` tag is the wire's op-code: renaming one breaks every other process."""
    frame = SAMPLES[name]
    plain = msgspec.msgpack.decode(_frames.encode(frame))
    assert isinstance(plain, dict)
    assert plain["op"] == TAGS[type(frame)]


def test_raw_bodies_are_embedded_verbatim() -> None:
    """A body is not re-encoded: the Raw bytes appear as they are, and decode to the value."""
    data = _frames.encode(SAMPLES["request"])
    assert bytes(BODY) in data
    back = _frames.decode(data)
    assert isinstance(back, Request)
    assert msgspec.msgpack.decode(back.body) == {"user_id": "u1", "n": 3, "tags": ["a", "b"]}
    res = _frames.decode(_frames.encode(SAMPLES["response"]))
    assert isinstance(res, Response)
    assert msgspec.msgpack.decode(res.body) == [1, "two", None, 4.5]


def test_default_bodies() -> None:
    assert msgspec.msgpack.decode(_frames.EMPTY_BODY) == {}
    assert msgspec.msgpack.decode(SAMPLES["request-defaults"].body) == {}
    assert msgspec.msgpack.decode(SAMPLES["response-defaults"].body) is None


@pytest.mark.parametrize("value", [None, 0, -1, 2**63, "x", [1, 2], {"a": {"b": [True]}}, b"\x00"])
def test_encode_body(value: Any) -> None:
    body = _frames.encode_body(value)
    assert isinstance(body, msgspec.Raw)
    assert msgspec.msgpack.decode(body) == value


def test_encoding_is_deterministic() -> None:
    """Multicast relies on one encoding sent to every target; equal frames encode equally."""
    a = SAMPLES["request"]
    b = msgspec.structs.replace(a)
    assert _frames.encode(a) == _frames.encode(b)


# -- schema evolution -------------------------------------------------------------------------


def _variant(kind: type[Any], *, extra: bool, drop_defaults: bool) -> type[Any]:
    """Same tag and fields as ``kind``; optionally a new field last, or only the required ones."""
    spec: list[Any] = []
    for f in msgspec.structs.fields(kind):
        if f.required:
            spec.append((f.name, f.type))
        elif not drop_defaults:
            spec.append((f.name, f.type, f.default))
    if extra:
        spec.append(("added_in_a_later_version", dict[str, int], {}))
    cfg = kind.__struct_config__
    return msgspec.defstruct(f"Evolved{kind.__name__}", spec, tag=cfg.tag, tag_field=cfg.tag_field)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_unknown_field_from_a_newer_peer_is_ignored(name: str) -> None:
    frame = SAMPLES[name]
    newer = _variant(type(frame), extra=True, drop_defaults=False)
    value = newer(**_as_dict(frame), added_in_a_later_version={"x": 1})
    data = msgspec.msgpack.encode(value)
    keys = list(msgspec.msgpack.decode(data))
    assert keys[-1] == "added_in_a_later_version"  # really on the wire, and last
    assert _frames.decode(data) == frame


@pytest.mark.parametrize("name", ["request-defaults", "response-defaults", "fault-defaults"])
def test_missing_defaulted_fields_from_an_older_peer_take_defaults(name: str) -> None:
    frame = SAMPLES[name]
    kind = type(frame)
    older = _variant(kind, extra=False, drop_defaults=True)
    required = {f.name for f in msgspec.structs.fields(kind) if f.required}
    assert set(older.__struct_fields__) == required
    assert required < set(kind.__struct_fields__)  # something really is missing
    data = msgspec.msgpack.encode(older(**{k: getattr(frame, k) for k in required}))
    back = _frames.decode(data)
    assert back == frame
    for f in msgspec.structs.fields(kind):
        if not f.required:
            default = f.default
            got = getattr(back, f.name)
            if isinstance(default, msgspec.Raw):
                assert bytes(got) == bytes(default)
            else:
                assert got == default


def test_new_fields_have_defaults() -> None:
    """House rule 5: fields after the first defaulted one are all defaulted (new fields go last)."""
    for kind in FRAME_TYPES:
        seen_default = False
        for f in msgspec.structs.fields(kind):
            if not f.required:
                seen_default = True
            assert not (seen_default and f.required), (kind.__name__, f.name)


# -- malformed input --------------------------------------------------------------------------

_enc = msgspec.msgpack.encode
_REQ = _frames.encode(SAMPLES["request"])
_ACK_FIELDS = {"msg_id": "1", "from_host": "a", "from_instance": "b", "queue": "q"}
_REQ_FIELDS = _as_dict(SAMPLES["request-defaults"])
_DEEP = b"\x91" * 100_000 + b"\xc0"  # [[[[...nil...]]]] nested 100k deep

MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "nul": b"\x00",
    "nil": b"\xc0",
    "reserved-byte": b"\xc1",
    "a-string": _enc("req"),
    "truncated-1": _REQ[:1],
    "truncated-half": _REQ[: len(_REQ) // 2],
    "truncated-last-byte": _REQ[:-1],
    "trailing-garbage": _frames.encode(SAMPLES["ack"]) + b"\x00",
    "unknown-tag": _enc({"op": "nope", **_ACK_FIELDS}),
    "tag-wrong-type": _enc({"op": 1, **_ACK_FIELDS}),
    "no-tag": _enc(_ACK_FIELDS),
    "missing-required": _enc({"op": "ack", "msg_id": "1", "from_host": "a"}),
    "str-field-is-int": _enc({"op": "ack", **_ACK_FIELDS, "msg_id": 1}),
    "int-field-is-str": _enc({"op": "req", **_REQ_FIELDS, "port": "443"}),
    "int-field-is-float": _enc({"op": "req", **_REQ_FIELDS, "budget_ms": 1.5}),
    "bool-field-is-str": _enc({"op": "req", **_REQ_FIELDS, "multicast": "yes"}),
    "int-field-is-nil": _enc(
        {"op": "err", **_ACK_FIELDS, "status": None, "type": "", "message": ""}
    ),
    "non-str-keys": _enc({1: 2}),
    "a-msgpack-array": _enc(["ack", "1", "a", "b", "q"]),
    "a-tagged-array": _enc([{"op": "ack", **_ACK_FIELDS}]),
    "invalid-utf8": b"\x81\xa2op\xa3\xff\xfe\xfd",
    "huge-nesting": _DEEP,
    "huge-nesting-in-body": _enc({"op": "req", **_REQ_FIELDS, "body": msgspec.Raw(_DEEP)}),
    "huge-nesting-in-unknown-field": _enc({"op": "ack", **_ACK_FIELDS, "x": msgspec.Raw(_DEEP)}),
    "truncated-body": _enc({"op": "res", **_ACK_FIELDS, "body": msgspec.Raw(b"\x92\x01")}),
    "huge-length-prefix": b"\xdf\xff\xff\xff\xff",  # a map claiming 4 billion entries
}


@pytest.mark.parametrize("data", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_input_raises_frame_error(data: bytes) -> None:
    with pytest.raises(FrameError):
        _frames.decode(data)


def test_frame_error_is_a_value_error() -> None:
    assert issubclass(FrameError, ValueError)


def test_frame_error_hides_the_decoder_error() -> None:
    with pytest.raises(FrameError) as info:
        _frames.decode(b"")
    assert info.value.__suppress_context__
    assert "frame" in str(info.value)


# -- properties -------------------------------------------------------------------------------


def _decode_or_frame_error(data: bytes) -> None:
    try:
        frame = _frames.decode(data)
    except FrameError:
        return
    assert isinstance(frame, FRAME_TYPES)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_frame_error(data: bytes) -> None:
    _decode_or_frame_error(data)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(SAMPLES.values())), st.data())
def test_corrupted_frames_decode_or_raise_frame_error(frame: Any, data: st.DataObject) -> None:
    raw = bytearray(_frames.encode(frame))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[i] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    _decode_or_frame_error(bytes(raw[:cut]))


texts = st.text(max_size=40)
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
json_like = st.recursive(
    st.none() | st.booleans() | ints | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        Request,
        msg_id=texts,
        from_host=texts,
        from_instance=texts,
        host=texts,
        port=ints,
        method=texts,
        path=texts,
        depth=ints,
        budget_ms=ints,
        body=json_like.map(_frames.encode_body),
        multicast=st.booleans(),
        trace_id=texts,
        span_id=texts,
        oneway=st.booleans(),
    )
)
def test_request_round_trip_property(frame: Request) -> None:
    back = _frames.decode(_frames.encode(frame))
    assert back == frame
    assert isinstance(back, Request)
    assert msgspec.msgpack.decode(back.body) == msgspec.msgpack.decode(frame.body)
