"""The pure lease shapes: names, TTLs, and a direct-get answer read defensively (a forged,
truncated or huge entry is never an exception of another kind, and never a holder)."""

from __future__ import annotations

import pytest

from actorbus._wire import leases as _leases


def test_names_and_ttls() -> None:
    assert _leases.stream("p1") == "KV_AB_p1_LEASES"
    assert _leases.key_subject("p1", "a.users.example", "sweep") == (
        "$KV.AB_p1_LEASES.a~users~example.sweep"
    )
    assert _leases.host_keys("p1", "users.example") == "$KV.AB_p1_LEASES.users~example.*"
    assert [_leases.lease_ttl(s) for s in (0.01, 0.25, 0.4, 1, 60)] == [1, 1, 2, 3, 180]
    config = _leases.bucket_config("p1")
    assert config["subjects"] == ["$KV.AB_p1_LEASES.>"]
    assert config["max_msgs_per_subject"] == 1 and config["allow_msg_ttl"] is True


def _answer(seq: str, data: bytes, **extra: str) -> _leases.Entry | None:
    return _leases.parse_direct_get({"Nats-Sequence": seq, **extra}, data)


def test_a_direct_get_answer() -> None:
    assert (
        _leases.parse_direct_get({"Status": "404", "Description": "Message Not Found"}, b"") is None
    )
    assert _answer("7", _leases.record("abc", 3)) == _leases.Entry(7, "abc")
    assert _answer("8", b"", **{"KV-Operation": "DEL"}) == _leases.Entry(8, "")  # released
    for junk in (b"{", b"[1]", b'{"instance": 5}', b'"abc"', b"x" * 5000):
        assert _answer("9", junk) == _leases.Entry(9, ""), junk  # unreadable: nobody's


@pytest.mark.parametrize(
    "headers",
    [{"Status": "408"}, {}, {"Nats-Sequence": "x"}, {"Nats-Sequence": "0"}, None],
)
def test_an_answer_of_another_shape_is_a_value_error(headers: dict[str, str] | None) -> None:
    with pytest.raises(ValueError):
        _leases.parse_direct_get(headers, b"{}")
