"""The Trio-native client against real nats-servers: interop with plain nats-py, nkeys, TLS,
server errors, lame-duck mode, the outbound bound. Every wait is on a condition, bounded."""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nkeys
import pytest
import trio

from actorbus._transport.base import Message, Transport, TransportError
from actorbus._transport.embedded import EmbeddedServer, open_embedded
from actorbus._transport.native import NativeNatsTransport, open_native
from actorbus._transport.natsconn import Auth, parse_url, read_creds
from actorbus._transport.settings import NatsConnectError
from actorbus.testing import Inbox

pytestmark = pytest.mark.nats


@asynccontextmanager
async def native(url: str, **kwargs: object) -> AsyncIterator[NativeNatsTransport]:
    async with open_native(url, connect_timeout=3, **kwargs) as t:  # type: ignore[arg-type]
        yield t


async def roundtrip(a: Transport, b: Transport, subject: str) -> Message:
    inbox = Inbox()
    sub = await b.subscribe(subject, inbox)
    await b.flush()
    a.publish(subject, b"ping")
    (msg,) = await inbox.wait_for(1)
    await sub.unsubscribe()
    return msg


# -- interop with a plain nats-py client (asyncio, in its own process) -------------------------

PEER = """
import asyncio, sys
import nats
import nats.errors

async def main(url):
    nc = await nats.connect(url)
    async def upper(msg):
        await msg.respond(msg.data.upper())
    await nc.subscribe("interop.upper", cb=upper)
    await nc.flush()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    reply = await nc.request("interop.native", b"abc", timeout=5)
    print("REPLY", reply.data.decode(), flush=True)
    await nc.publish("interop.headers", b"body", headers={"K": "v", "Other": "x y"})
    try:
        await nc.request("interop.nobody", b"?", timeout=5)
    except nats.errors.NoRespondersError:
        print("NORESPONDERS", flush=True)
    await nc.flush()
    print("DONE", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await nc.close()

asyncio.run(main(sys.argv[1]))
"""


class Lines:
    """Reads a child's stdout line by line."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buf = b""

    async def next(self) -> str:
        while b"\n" not in self._buf:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                raise AssertionError(f"peer exited; output so far {self._buf!r}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode().strip()


async def test_interop_with_plain_nats_py(nats_server: EmbeddedServer) -> None:
    """Requests both ways, headers from nats-py, no-responders on both sides."""
    async with native(nats_server.url) as t:

        def serve(msg: Message) -> None:
            assert msg.reply is not None
            t.publish(msg.reply, msg.data[::-1])

        headers, replies = Inbox(), Inbox()
        await t.subscribe("interop.native", serve)
        await t.subscribe("interop.headers", headers)
        await t.subscribe("interop.inbox.*", replies)
        await t.flush()
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-c", PEER, nats_server.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            lines = Lines(proc.stdout)
            with trio.fail_after(30):
                assert await lines.next() == "READY"
                t.publish("interop.upper", b"hello", reply="interop.inbox.1")
                t.publish("interop.nobody", b"?", reply="interop.inbox.2")
                await replies.wait_for(2)
                await proc.stdin.send_all(b"go\n")
                assert await lines.next() == "REPLY cba"
                assert await lines.next() == "NORESPONDERS"
                assert await lines.next() == "DONE"
                (hmsg,) = await headers.wait_for(1)
                await proc.stdin.send_all(b"bye\n")
                assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    by_subject = {m.subject: m for m in replies.messages}
    assert by_subject["interop.inbox.1"].data == b"HELLO"
    assert by_subject["interop.inbox.2"].no_responders
    assert hmsg == Message("interop.headers", b"body", None, False, {"K": "v", "Other": "x y"})


# -- nkeys and creds -------------------------------------------------------------------------


def user_seed() -> tuple[str, str]:
    """A fresh user nkey: (seed, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode()


async def test_nkey_auth(tmp_path: Path) -> None:
    seed, public = user_seed()
    conf = tmp_path / "nkey.conf"
    conf.write_text(f'authorization {{ users = [ {{ nkey: "{public}" }} ] }}\n')
    async with open_embedded(extra_args=["-c", str(conf)]) as srv:
        async with native(srv.url, nkey_seed=seed) as t:
            assert (await roundtrip(t, t, "nkey.ok")).data == b"ping"
        other, _ = user_seed()
        with trio.fail_after(4), pytest.raises(NatsConnectError, match=r"(?i)authorization"):
            async with native(srv.url, nkey_seed=other):
                pass


def test_creds_file_signs_the_nonce(tmp_path: Path) -> None:
    seed, public = user_seed()
    creds = tmp_path / "user.creds"
    creds.write_text(
        "-----BEGIN NATS USER JWT-----\neyJhbGciOiJlZDI1NTE5In0.e30.sig\n"
        "------END NATS USER JWT------\n\n************************* IMPORTANT *****\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
    assert read_creds(str(creds)) == ("eyJhbGciOiJlZDI1NTE5In0.e30.sig", seed.encode())
    fields = Auth(creds=str(creds)).fields(parse_url("nats://h"), "nonce-123")
    assert fields["jwt"] == "eyJhbGciOiJlZDI1NTE5In0.e30.sig"
    sig = base64.urlsafe_b64decode(fields["sig"] + "=" * (-len(fields["sig"]) % 4))
    assert nkeys.from_seed(bytearray(seed.encode())).verify(b"nonce-123", sig)
    assert public.startswith("U")


def test_url_credentials_win_and_parse() -> None:
    url = parse_url("nats://al%40ice:p%3Ass@example.org")
    assert (url.user, url.password, url.port) == ("al@ice", "p:ss", 4222)
    assert url.public() == "nats://***@example.org:4222"
    assert parse_url("tls://tok@h:1").token == "tok"
    assert Auth(user="x", password="y").fields(url, None) == {"user": "al@ice", "pass": "p:ss"}
    with pytest.raises(ValueError, match="nats-py"):
        parse_url("ws://h:1")


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A CA and a server certificate for ``localhost`` (not 127.0.0.1), made with openssl."""
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=t")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext").write_text("subjectAltName=DNS:localhost\n")
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext",
    )  # fmt: skip
    yield d


def tls_args(certs: Path) -> list[str]:
    return ["--tls", "--tlscert", str(certs / "server.pem"), "--tlskey", str(certs / "server.key")]


async def test_tls(certs: Path) -> None:
    ca = str(certs / "ca.pem")
    async with open_embedded(extra_args=tls_args(certs)) as srv:
        for scheme in ("tls", "nats"):  # nats:// upgrades because the server requires TLS
            async with native(f"{scheme}://localhost:{srv.port}", tls_ca=ca) as t:
                assert (await roundtrip(t, t, "tls.ok")).data == b"ping"
        with trio.fail_after(4), pytest.raises(NatsConnectError) as info:
            async with native(f"tls://localhost:{srv.port}"):
                pass
        assert "refused: untrusted TLS certificate" in str(info.value)
        assert "\n" not in str(info.value)
        with trio.fail_after(4), pytest.raises(NatsConnectError) as info:
            async with native(f"tls://127.0.0.1:{srv.port}", tls_ca=ca):
                pass
        assert "TLS hostname mismatch" in str(info.value)


async def test_tls_first(certs: Path, tmp_path: Path) -> None:
    conf = tmp_path / "tlsfirst.conf"
    conf.write_text(
        f'tls {{ cert_file: "{certs / "server.pem"}", key_file: "{certs / "server.key"}", '
        'handshake_first: "300ms" }\n'
    )
    async with open_embedded(extra_args=["-c", str(conf)]) as srv:
        url = f"tls://localhost:{srv.port}"
        async with native(url, tls_ca=str(certs / "ca.pem"), tls_first=True) as t:
            assert (await roundtrip(t, t, "tls.first")).data == b"ping"


# -- server errors, lame duck, limits ---------------------------------------------------------


async def test_permission_violation_is_reported_and_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "perm.conf"
    conf.write_text(
        'authorization { users = [ { user: "u", password: "p", '
        'permissions: { publish: { deny: ["forbidden.>"] } } } ] }\n'
    )
    async with (
        open_embedded(extra_args=["-c", str(conf)]) as srv,
        native(f"nats://u:p@127.0.0.1:{srv.port}") as t,
    ):
        with caplog.at_level(logging.WARNING, logger="actorbus.nats"):
            t.publish("forbidden.x", b"no")
            await t.flush()
            with trio.fail_after(5):
                while not any("ermission" in r.getMessage() for r in caplog.records):
                    await t.flush()
        assert t.connected
        assert t.statistics()["reconnects"] == 0
        assert (await roundtrip(t, t, "allowed.x")).data == b"ping"


async def test_fatal_server_error_reconnects() -> None:
    """A -ERR that closes the connection (here: a payload over the server's limit, let past the
    client's own check) is followed by a reconnect; subscriptions are replayed."""
    async with open_embedded(max_payload=1024) as srv, native(srv.url, reconnect_wait=0.05) as t:
        inbox = Inbox()
        await t.subscribe("after.error", inbox)
        await t.flush()
        t.max_payload = 10_000  # lie, so that the server refuses
        t.publish("too.big", b"x" * 5000)
        with trio.fail_after(5):
            await t.wait_disconnected()
            await t.wait_connected()
        assert t.max_payload == 1024  # from the new INFO
        assert t.statistics()["reconnects"] == 1
        await t.flush()
        t.publish("after.error", b"again")
        assert [m.data for m in await inbox.wait_for(1)] == [b"again"]


async def test_lame_duck_moves_to_another_server() -> None:
    async with (
        open_embedded() as a,
        open_embedded() as b,
        # The first connect tries the URLs in order: t starts on a.
        native(f"{a.url},{b.url}", reconnect_wait=5.0) as t,
    ):
        assert t.connected_url == a.url
        inbox = Inbox()
        await t.subscribe("ldm.sub", inbox)
        await t.flush()
        assert a.pid is not None
        os.kill(a.pid, signal.SIGUSR2)  # nats-server: enter lame-duck mode
        with trio.fail_after(4):  # under reconnect_wait: no backoff after lame duck
            while t.connected_url != b.url:
                await (t.wait_disconnected() if t.connected else t.wait_connected())
        assert t.statistics()["reconnects"] == 1
        async with native(b.url) as there:
            await t.flush()  # the replayed SUB has reached b
            there.publish("ldm.sub", b"moved")
            assert [m.data for m in await inbox.wait_for(1)] == [b"moved"]


async def test_outbound_buffer_is_bounded(nats_server: EmbeddedServer) -> None:
    async with native(nats_server.url, max_pending=1000) as t:
        inbox = Inbox()
        await t.subscribe("bounded", inbox)
        await t.flush()
        sent = 0
        with pytest.raises(TransportError, match="outbound buffer") as info:
            for _ in range(100):  # no checkpoint: the writer cannot drain meanwhile
                t.publish("bounded", b"x" * 100)
                sent += 1
        assert "\n" not in str(info.value)
        assert 5 <= sent < 10
        await t.flush()  # what was accepted is sent; the refused message is not
        assert len(await inbox.wait_for(sent)) == sent
        t.publish("bounded", b"later")  # usable again once drained
        await inbox.wait_for(sent + 1)


async def test_refused_port_fails_at_once() -> None:
    async with open_embedded() as srv:
        port = srv.port
    # refused is a definite answer: it ends long before an hour's connect bound
    with trio.fail_after(60), pytest.raises(NatsConnectError, match="refused"):
        async with open_native(f"nats://127.0.0.1:{port}", connect_timeout=3600):
            pass


async def test_close_leaves_no_task(nats_server: EmbeddedServer) -> None:
    task = trio.lowlevel.current_task()
    before = list(task.child_nurseries)
    async with native(nats_server.url) as t:
        await t.subscribe("x", Inbox())
        (mine,) = [n for n in task.child_nurseries if n not in before]
        assert mine.child_tasks  # the connection's tasks run in the client's own nursery
    assert task.child_nurseries == before
    assert not mine.child_tasks
    with pytest.raises(TransportError):
        t.publish("x", b"y")
