"""Servers a cluster announces (INFO ``connect_urls``) are joined with the configured server's
credentials and TLS name: they are announced by address, and a certificate names the host."""

from __future__ import annotations

from actorbus._transport.native import NativeNatsTransport
from actorbus._transport.natsconn import Auth, Options


def test_announced_servers_inherit_credentials_and_tls_name() -> None:
    transport = NativeNatsTransport(
        ["tls://alice:s3cret@nats.example.com:4222"], options=Options(auth=Auth())
    )
    transport._learn_servers({"connect_urls": ["10.0.0.2:4222", "nats.example.com:4222"]})
    configured, announced = transport._servers
    assert (announced.host, announced.port, announced.scheme) == ("10.0.0.2", 4222, "tls")
    assert (announced.user, announced.password) == ("alice", "s3cret")
    assert announced.tls_name == "nats.example.com"
    assert configured.tls_name is None  # the configured server is checked against its own host
    assert "s3cret" not in announced.public()
