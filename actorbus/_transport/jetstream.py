"""A small JetStream client on top of the `Transport` seam: `$JS.API` requests, pulls, acks.

Everything is core NATS: a request is a publish with a reply subject under this client's inbox
(``<inbox>.r.*``, one subscription), answered once; each consumer's pulled messages arrive on
a subscription of its own (``<inbox>.p.<n>``), where a status (``408`` expired, ``409`` …)
ends the pull. A server without JetStream has no responder on `$JS.API`: that is
`JetStreamUnavailable`.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Any, Final

import trio

from .._wire import jetstream as _js
from .base import Message, Subscription, Transport, TransportError

__all__ = ["NO_JETSTREAM", "JetStream", "JetStreamError", "JetStreamUnavailable"]

log = logging.getLogger("actorbus.jetstream")

NO_JETSTREAM: Final = "durable sinks need JetStream: start nats-server with -js"
#: JetStream errors worth retrying while a (clustered) JetStream comes up.
_TRANSIENT = frozenset({10005, 10008, 10023})  # no peers for placement yet, unavailable, …
_NOT_CLUSTERED = 10074  # replicas > 1 not supported in non-clustered mode
REQUEST_TIMEOUT = 5.0
#: How long `ensure_*` keep retrying a JetStream that is still electing its leader.
SETTLE_TIMEOUT = 30.0


class JetStreamError(TransportError):
    """JetStream refused or did not answer; the message is one line."""

    def __init__(self, message: str, err_code: int = 0) -> None:
        super().__init__(" ".join(message.split()))
        self.err_code = err_code


class JetStreamUnavailable(JetStreamError):
    """The server (or the account) runs no JetStream."""

    def __init__(self) -> None:
        super().__init__(NO_JETSTREAM)


class JetStream:
    """JetStream through one transport, with replies under ``inbox`` (`start` subscribes)."""

    def __init__(self, transport: Transport, inbox: str) -> None:
        if not transport.supports_headers:
            raise JetStreamError(f"{type(transport).__name__} cannot carry NATS headers")
        self.transport = transport
        self.inbox = inbox
        self._ids = itertools.count(1)
        self._waiting: dict[str, tuple[trio.Event, list[Message]]] = {}
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.transport.subscribe(f"{self.inbox}.r.*", self._on_message)

    async def aclose(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    def _on_message(self, msg: Message) -> None:
        token = msg.subject.rpartition(".")[2]
        waiter = self._waiting.pop(token, None)
        if waiter is not None:
            waiter[1].append(msg)
            waiter[0].set()

    # -- requests ------------------------------------------------------------------------

    async def request(
        self,
        subject: str,
        data: bytes,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """One request answered with JSON (an API call, or a publish to an acking stream);
        `JetStreamError` for an error answer or none in time."""
        msg = await self.request_message(subject, data, headers=headers, timeout=timeout)
        doc, err = _js.api_error(msg.data)
        if err is not None:
            raise JetStreamError(f"{subject}: {err.description} ({err.err_code})", err.err_code)
        return doc

    async def request_message(
        self,
        subject: str,
        data: bytes,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> Message:
        """One request's answer as it came (a direct get answers with headers and raw data);
        `JetStreamError` for none in time or no responder."""
        token = str(next(self._ids))
        done, box = trio.Event(), list[Message]()
        self._waiting[token] = (done, box)
        try:
            self.transport.publish(subject, data, reply=f"{self.inbox}.r.{token}", headers=headers)
            with trio.move_on_after(timeout):
                await done.wait()
        finally:
            self._waiting.pop(token, None)
        if not box:
            raise JetStreamError(f"no answer from JetStream to {subject} within {timeout:g} s")
        msg = box[0]
        if msg.no_responders:
            if subject.startswith("$JS.API."):
                raise JetStreamUnavailable()
            raise JetStreamError(f"no stream captures {subject}")
        return msg

    async def api(self, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        return await self.request(f"$JS.API.{what}", data)

    async def _settled(self, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """`api`, retried while JetStream is still coming up (a cluster electing its leader)."""
        with trio.move_on_after(SETTLE_TIMEOUT):
            delay = 0.1
            while True:
                try:
                    return await self.api(what, body)
                except JetStreamUnavailable:
                    raise
                except JetStreamError as exc:
                    if exc.err_code and exc.err_code not in _TRANSIENT:
                        raise
                    log.debug("JetStream not ready for %s: %s", what, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise JetStreamError(f"JetStream did not become ready for {what} in {SETTLE_TIMEOUT:g} s")

    async def ensure_stream(self, config: dict[str, Any]) -> dict[str, Any]:
        """Create the stream, or add the subjects it lacks; idempotent, never narrows it. A
        replicated stream on a single server is created with one replica."""
        name = config["name"]
        try:
            info = await self._settled(f"STREAM.INFO.{name}")
        except JetStreamError as exc:
            if exc.err_code != 10059:  # stream not found
                raise
            try:
                return await self._settled(f"STREAM.CREATE.{name}", config)
            except JetStreamError as exc2:
                if exc2.err_code == _NOT_CLUSTERED and config.get("num_replicas", 1) > 1:
                    return await self.ensure_stream({**config, "num_replicas": 1})
                if exc2.err_code != 10058:  # another sink created it meanwhile
                    raise
                info = await self._settled(f"STREAM.INFO.{name}")
        current = info.get("config") or {}
        have = set(current.get("subjects") or [])
        if set(config["subjects"]) <= have:
            return info
        merged = {**current, "subjects": sorted(have | set(config["subjects"]))}
        return await self._settled(f"STREAM.UPDATE.{name}", merged)

    async def ensure_consumer(self, stream: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create the durable consumer, or update it to ``config`` (shared by replicas)."""
        body = {"stream_name": stream, "config": config}
        return await self._settled(f"CONSUMER.CREATE.{stream}.{config['durable_name']}", body)

    # -- pulling -------------------------------------------------------------------------

    async def pull_inbox(self, deliver: Callable[[Message], None]) -> tuple[str, Subscription]:
        """A subscription of its own for one consumer's pulled messages (they arrive with
        their stored subject, so only the subscription tells them apart) and its subject."""
        subject = f"{self.inbox}.p.{next(self._ids)}"
        return subject, await self.transport.subscribe(subject, deliver)

    def pull(
        self, stream: str, consumer: str, inbox: str, batch: int, expires: float, heartbeat: float
    ) -> None:
        """Ask for up to ``batch`` messages on ``inbox``; a status there may end the pull."""
        self.transport.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
            _js.pull_request(batch, expires, heartbeat),
            reply=inbox,
        )

    def reply(self, subject: str, data: bytes) -> None:
        """An ack (`+ACK`, `-NAK`, `+WPI`, `+TERM`) on a delivered message's reply subject."""
        self.transport.publish(subject, data)
