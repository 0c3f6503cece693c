"""TLS against a nats-server configured with certificates made in the test (``trustme``):
server verification, mutual TLS, and the generated ACL included beside the TLS block."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trustme

from actorbus import App, BusError
from actorbus._app import random_plane
from actorbus._cli.acl import generate
from actorbus._transport.embedded import EmbeddedServer

from .actors import Other, Sink, Source

pytestmark = pytest.mark.nats


@dataclass
class TlsBus:
    url: str
    ca: Path
    client_cert: Path
    client_key: Path
    creds: Path
    tmp: Path


def _write_cert(cert: trustme.LeafCert, tmp: Path, name: str) -> tuple[Path, Path]:
    chain, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return chain, key


@pytest.fixture(scope="module")
def tls_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBus]:
    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    server_cert, server_key = _write_cert(ca.issue_cert("127.0.0.1", "localhost"), tmp, "server")
    client_cert, client_key = _write_cert(ca.issue_cert("client.actorbus"), tmp, "client")
    generate([Source, Sink, Other], str(tmp / "auth.conf"), str(tmp / "creds.json"))
    conf = tmp / "nats.conf"
    conf.write_text(
        'include "auth.conf"\n'
        "tls {\n"
        f'  cert_file: "{server_cert}"\n  key_file: "{server_key}"\n'
        f'  ca_file: "{tmp / "ca.pem"}"\n  verify: true\n  timeout: 5\n'
        "}\n"
    )
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server:
        url = server.url.replace("nats://", "tls://")
        yield TlsBus(url, tmp / "ca.pem", client_cert, client_key, tmp / "creds.json", tmp)


def _use(monkeypatch: pytest.MonkeyPatch, ca: Path, cert: Path, key: Path) -> None:
    monkeypatch.setenv("NATS_CA", str(ca))
    monkeypatch.setenv("NATS_CERT", str(cert))
    monkeypatch.setenv("NATS_KEY", str(key))


async def test_mutual_tls_with_per_actor_identities(
    tls_bus: TlsBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, tls_bus.ca, tls_bus.client_cert, tls_bus.client_key)
    sink = Sink()
    with trio.fail_after(30):
        async with App(
            Source(), sink, bus=tls_bus.url, plane=random_plane(), credentials=tls_bus.creds
        ) as app:
            assert await app.client(Source).fire(n=2) == [4]
    assert sink.seen == [2]


async def test_an_untrusted_server_certificate_fails_at_once(
    tls_bus: TlsBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = trustme.CA()
    stranger.cert_pem.write_to_path(str(tls_bus.tmp / "stranger.pem"))
    _use(monkeypatch, tls_bus.tmp / "stranger.pem", tls_bus.client_cert, tls_bus.client_key)
    with trio.fail_after(10), pytest.raises(BusError) as info:
        async with App(bus=tls_bus.url, plane=random_plane(), credentials=tls_bus.creds):
            pass
    message = str(info.value)
    assert "\n" not in message and "certificate" in message.lower()
    assert "refused" in message  # not a timeout: verification failures are not retried


async def test_an_untrusted_client_certificate_is_refused(
    tls_bus: TlsBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = trustme.CA()
    cert, key = _write_cert(stranger.issue_cert("mallory.actorbus"), tls_bus.tmp, "mallory")
    _use(monkeypatch, tls_bus.ca, cert, key)
    with trio.fail_after(10), pytest.raises(BusError) as info:
        async with App(bus=tls_bus.url, plane=random_plane(), credentials=tls_bus.creds):
            pass
    message = str(info.value)
    assert "\n" not in message and "refused" in message, message
