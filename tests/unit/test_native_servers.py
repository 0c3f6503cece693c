"""The native client's reconnect rules, as pure code: servers a cluster announces (INFO
``connect_urls``) are joined with the configured server's credentials and TLS name, and capped;
backoff grows across connections that drop soon; the same auth error twice in a row is final;
INFO fields of the wrong type are a protocol error."""

from __future__ import annotations

import random

import pytest

from actorbus._transport import natsproto as proto
from actorbus._transport.natsconn import parse_url
from actorbus._transport.reconnect import (
    MAX_BACKOFF_FACTOR,
    MAX_LEARNED_SERVERS,
    AuthMemory,
    Backoff,
    learn_servers,
)


def test_announced_servers_inherit_credentials_and_tls_name() -> None:
    servers = [parse_url("tls://alice:s3cret@nats.example.com:4222")]
    learn_servers(servers, 1, {"connect_urls": ["10.0.0.2:4222", "nats.example.com:4222"]})
    configured, announced = servers
    assert (announced.host, announced.port, announced.scheme) == ("10.0.0.2", 4222, "tls")
    assert (announced.user, announced.password) == ("alice", "s3cret")
    assert announced.tls_name == "nats.example.com"
    assert configured.tls_name is None  # the configured server is checked against its own host
    assert "s3cret" not in announced.public()


def test_learned_servers_are_capped() -> None:
    servers = [parse_url("nats://a:4222"), parse_url("nats://b:4222")]
    many = [f"10.0.{i // 250}.{i % 250}:4222" for i in range(1000)]
    learn_servers(servers, 2, {"connect_urls": many})
    learn_servers(servers, 2, {"connect_urls": [f"10.9.9.{i}:4222" for i in range(50)]})
    assert len(servers) == 2 + MAX_LEARNED_SERVERS
    assert [s.host for s in servers[:2]] == ["a", "b"]


def test_backoff_grows_across_connections_that_drop_soon() -> None:
    random.seed(7)
    backoff = Backoff(1.0, healthy_after=5.0)
    delays = []
    now = 0.0
    for _ in range(7):  # each connection drops 0.1 s after it was accepted
        backoff.connected(now)
        now += 0.1
        backoff.dropped(now)
        delays.append(backoff.next_delay())
    assert delays[0] == 0.0  # the first connection was the initial one: retry at once
    for i, (low, high) in enumerate([(0.8, 1.2), (1.6, 2.4), (3.2, 4.8), (6.4, 9.6)], 1):
        assert low <= delays[i] <= high
    assert all(d <= MAX_BACKOFF_FACTOR * 1.2 for d in delays)
    assert delays[5] >= 0.8 * MAX_BACKOFF_FACTOR
    # A connection that stays up resets it: the next drop retries at once.
    backoff.connected(now)
    backoff.dropped(now + 5.0)
    assert backoff.next_delay() == 0.0
    assert 0.8 <= backoff.next_delay() <= 1.2  # and the round after that waits again


def test_the_same_auth_error_twice_in_a_row_is_final() -> None:
    a, b = parse_url("nats://a:4222"), parse_url("nats://b:4222")
    memory = AuthMemory()
    assert not memory.failed(a, "Authorization Violation")
    assert not memory.failed(b, "Authorization Violation")  # another server: its own count
    assert memory.failed(a, "authorization   violation")
    memory.succeeded(b)
    assert not memory.failed(b, "Authorization Violation")
    assert not memory.failed(b, "User Authentication Expired")  # a different error: not twice
    assert not memory.failed(b, None)  # something else in between resets it
    assert not memory.failed(b, "User Authentication Expired")


@pytest.mark.parametrize(
    "fields",
    [
        {"connect_urls": 5},
        {"connect_urls": ["ok:4222", 7]},
        {"max_payload": "lots"},
        {"max_payload": True},
        {"max_payload": 0},
        {"ldm": "yes"},
        {"nonce": 12},
        {"tls_required": 1},
    ],
)
def test_info_fields_of_the_wrong_type_are_a_protocol_error(fields: dict[str, object]) -> None:
    parser = proto.Parser()
    line = b"INFO " + proto.json.dumps({"server_id": "x", **fields}).encode() + b"\r\n"
    with pytest.raises(proto.ProtocolError, match="INFO field") as info:
        parser.feed(line)
    assert "\n" not in str(info.value)


def test_good_info_fields_pass() -> None:
    fields = {"max_payload": 1024, "connect_urls": ["a:1"], "ldm": False, "extra": [1, {}]}
    (event,) = proto.Parser().feed(b"INFO " + proto.json.dumps(fields).encode() + b"\r\n")
    assert event == proto.Info(fields)
