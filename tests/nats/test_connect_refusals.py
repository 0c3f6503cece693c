"""A server that refuses us, or whose certificate we refuse: a one-line `BusError` at once that
names the cause and no secret (never a traceback, never a wait for the connect timeout)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trustme

from actorbus import App, BusError
from actorbus._transport.embedded import EmbeddedServer

pytestmark = pytest.mark.nats


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServer, Path]]:
    """A TLS-only nats-server whose certificate (for "localhost") comes from a private CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    args = ["--tls", "--tlscert", str(folder / "cert.pem"), "--tlskey", str(folder / "key.pem")]
    with EmbeddedServer(extra_args=args) as server:
        yield server, folder / "ca.pem"


async def refusal(url: str, plane: str) -> str:
    with trio.fail_after(4), pytest.raises(BusError) as info:  # far below the 5 s connect bound
        async with App(bus=url, plane=plane):
            pass
    message = str(info.value)
    assert "\n" not in message
    return message


async def test_untrusted_certificate(tls_server: tuple[EmbeddedServer, Path], plane: str) -> None:
    server, _ = tls_server
    message = await refusal(f"tls://localhost:{server.port}", plane)
    assert "untrusted TLS certificate" in message and f"localhost:{server.port}" in message


async def test_hostname_mismatch(
    tls_server: tuple[EmbeddedServer, Path], plane: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = tls_server
    monkeypatch.setenv("NATS_CA", str(ca))  # trusted CA, but the certificate is for localhost
    message = await refusal(f"tls://127.0.0.1:{server.port}", plane)
    assert "TLS hostname mismatch" in message and "127.0.0.1" in message


async def test_trusted_certificate_connects(
    tls_server: tuple[EmbeddedServer, Path], plane: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = tls_server
    monkeypatch.setenv("NATS_CA", str(ca))
    async with App(bus=f"tls://localhost:{server.port}", plane=plane) as app:
        assert app.transport.connected


async def test_authorization_violation_names_it_and_hides_the_password(plane: str) -> None:
    with EmbeddedServer(extra_args=["--user", "u", "--pass", "s3cret"]) as server:
        message = await refusal(f"nats://u:wrong-pw@127.0.0.1:{server.port}", plane)
    assert "authorization violation" in message.lower()
    assert "wrong-pw" not in message
