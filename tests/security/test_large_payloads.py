"""Frames in pieces under the generated permissions, on a nats-server with a 64 KiB
``max_payload``: the legitimate pieces flow; only the source may send the rest of an event to
a sink replica, and a piece in another host's name is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from actorbus import Actor, App, endpoint, event, sink
from actorbus._app import open_bus, random_plane
from actorbus._cli.acl import generate
from actorbus._transport.credentials import Credentials
from actorbus._transport.embedded import EmbeddedServer
from actorbus._wire import fragments as _pieces
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects

from .actors import Other
from .conftest import Refusals

pytestmark = pytest.mark.nats

MAX_PAYLOAD = 64 * 1024


class Blobs(Actor):
    hostname = "blobs.sec"

    @event
    async def on_blob(self, data: bytes) -> int: ...

    @endpoint
    async def fire(self, size: int) -> list[int]:
        return sorted([r.value async for r in self.on_blob(data=b"b" * size) if r.ok])

    @endpoint
    async def echo(self, data: bytes) -> bytes:
        return data


class Keeper(Actor):
    hostname = "keeper.sec"

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    @sink(Blobs.on_blob)
    async def keep(self, data: bytes) -> int:
        self.sizes.append(len(data))
        return len(data)


@pytest.fixture(scope="module")
def small_secure(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Credentials, Path]]:
    tmp = tmp_path_factory.mktemp("acl-large")
    conf, creds_path = tmp / "auth.conf", tmp / "creds.json"
    _, creds = generate([Blobs, Keeper, Other], str(conf), str(creds_path), nkeys=False)
    with conf.open("a") as out:
        out.write(f"\nmax_payload: {MAX_PAYLOAD}\n")
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server:
        yield server.url, creds, creds_path


async def test_pieces_flow_under_the_acl_and_a_peer_cannot_send_the_rest(
    small_secure: tuple[str, Credentials, Path], refusals: Refusals
) -> None:
    url, creds, creds_path = small_secure
    plane = random_plane()
    keeper = Keeper()
    data = bytes(range(256)) * 1200  # 300 KB: five pieces each way
    with trio.fail_after(30):
        async with App(
            Blobs(), keeper, Other(), bus=url, plane=plane, credentials=creds_path
        ) as app:
            assert app.transport.max_payload == MAX_PAYLOAD
            assert await app.client(Blobs).echo(data=data) == data  # edge → blobs, and back
            assert await app.client(Blobs).fire(size=len(data)) == [len(data)]  # the event
            assert refusals.texts() == []
            # The rest of an event goes to the sink replica's direct event subject: only the
            # source may publish there.
            frame = _frames.Request(
                "x1", "blobs.sec", "abc123", "blobs.sec", 417, "POST", "/on-blob", 1, 5000,
                body=_frames.encode_body({"data": data}), multicast=True, token="t",
            )  # fmt: skip
            piece = _pieces.split(_frames.encode(frame), MAX_PAYLOAD, frame, "blobs.sec")[1]
            for who, own in (
                (creds.for_host("other.sec"), "other.sec"),
                (creds.edge, "x.actorbus"),
            ):
                assert who is not None
                async with open_bus(url, who) as spoofer:
                    for source in ("blobs.sec", own):  # in the source's name, or its own
                        rest = _subjects.request_subject(
                            plane, _subjects.EVENT_PORT, "keeper.sec", "POST", "/on-blob",
                            source=source, instance=keeper.instance,
                        )  # fmt: skip
                        spoofer.publish(rest, piece)
                        text = await refusals.wait_for(rest, repr(who.name))
                        assert "publish" in text.lower()
            # a reply piece in another host's name is refused by the server too
            other = creds.for_host("other.sec")
            assert other is not None
            forged = f"{plane}.r.{_subjects.host_token('blobs.sec')}.actorbus.app.~x.1"
            async with open_bus(url, other) as spoofer:
                spoofer.publish(forged, piece)
                await refusals.wait_for(forged, "'other.sec'")
            assert keeper.sizes == [len(data)]
