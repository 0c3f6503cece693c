"""What the hostile-input tests share: an actor that records what it runs, a raw attacker."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import trio

from actorbus import Actor, App, endpoint
from actorbus._runtime.context import current_request
from actorbus._wire import frames as _frames
from actorbus._wire import subjects as _subjects
from actorbus.testing import Inbox
from actorbus.transport import Message

#: The ack window of the Apps that probe an actor under attack. Their calls must not fail
#: because a loaded machine stalled the process past the default 250 ms; the ack window is
#: not what these tests are about.
PEER_ACK_WINDOW = 10.0


class Spy(Actor):
    """Records every request it runs; ``slow`` waits until the test releases its tag."""

    hostname = "spy.test"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[_frames.Request] = []
        self.changed = trio.Event()
        self.release: dict[str, trio.Event] = {}
        self.cancelled: list[str] = []

    async def wait_seen(self, n: int) -> None:
        with trio.fail_after(10):
            while len(self.seen) < n:
                self.changed = trio.Event()
                await self.changed.wait()

    @endpoint
    async def slow(self, tag: str) -> str:
        frame = current_request.get()
        assert frame is not None
        self.seen.append(frame)
        self.changed.set()
        try:
            await self.release.setdefault(tag, trio.Event()).wait()
        except trio.Cancelled:
            self.cancelled.append(tag)
            raise
        return tag

    @endpoint("GET /hello")
    async def hello(self) -> str:
        return "hi"


def request(host: str, path: str, args: dict[str, object], **changes: object) -> _frames.Request:
    """A well-formed request as a peer could write it by hand."""
    fields: dict[str, object] = {
        "msg_id": "1",
        "from_host": "attacker.test",
        "from_instance": "atk0",
        "host": host,
        "port": 443,
        "method": "POST",
        "path": path,
        "depth": 1,
        "budget_ms": 5000,
        "body": _frames.encode_body(args),
        "token": "t0",
    }
    fields.update(changes)
    return _frames.Request(**fields)  # type: ignore[arg-type]


async def inbox_of(app: App) -> tuple[str, Inbox]:
    """A reply subject prefix the attacker listens on, and what arrives there."""
    prefix = _subjects.reply_prefix(app.plane, "attacker.test", "atk0")
    inbox = Inbox()
    await app.transport.subscribe(
        _subjects.reply_subscription(app.plane, "attacker.test", "atk0"), inbox
    )
    await app.transport.flush()
    return prefix, inbox


def frames_in(inbox: Inbox) -> list[_frames.Frame]:
    return [_frames.decode(m.data) for m in inbox.messages]


def subject(
    app: App,
    host: str,
    path: str,
    *,
    port: int = 443,
    method: str = "POST",
    source: str = "attacker.test",
    **kw: str,
) -> str:
    return _subjects.request_subject(app.plane, port, host, method, path, source=source, **kw)


async def in_flight(app: App, host: str) -> int:
    """The calls ``host`` has in flight (running or waiting), as its ``:888/stats`` says (less
    the stats call itself)."""
    stats = await app.caller.call(host, 888, "GET", "/stats", _frames.EMPTY_BODY, decode_any)
    assert isinstance(stats, dict)
    count: int = stats["in_flight"] - 1
    return count


async def round_trip(app: App, cls: type[Spy] = Spy) -> None:
    """A call that the bus orders after everything ``app`` published before it."""
    with trio.fail_after(10):
        assert await app.client(cls).hello() == "hi"


Decode = Callable[[bytes], object]
decode_any: Decode = msgspec.msgpack.decode


class Acks:
    """Counts the acks that reach one caller, seen on the wire beside it (a second subscription
    to its reply subjects), for tests that must act once a call is acked (the handler is slow,
    so its ack comes from the ack sender after ``ack_delay``)."""

    def __init__(self, actor: Actor | None = None) -> None:
        self._instance = actor.instance if actor is not None else None
        self.count = 0
        self._changed = trio.Event()

    @classmethod
    async def watch(cls, caller: App, actor: Actor | None = None) -> Acks:
        """Start counting the acks to ``caller``'s calls (only ``actor``'s, if given)."""
        acks = cls(actor)
        subject = _subjects.reply_subscription(caller.plane, caller.hostname, caller.instance)
        await caller.transport.subscribe(subject, acks._deliver)
        await caller.transport.flush()
        return acks

    def _deliver(self, msg: Message) -> None:
        try:
            frame = _frames.decode(msg.data) if msg.data else None
        except _frames.FrameError:
            return
        if isinstance(frame, _frames.Ack) and self._instance in (None, frame.from_instance):
            self.count += 1
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, n: int) -> None:
        while self.count < n:
            await self._changed.wait()
