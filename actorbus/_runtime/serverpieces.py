"""Requests that come in pieces (past the server's ``max_payload``): the server's half.

The first piece starts a set (on the route's subject, like the request) and is acked at once,
so the caller sends the rest to this instance alone; later pieces count only on this
instance's direct subject for the same route (`subjects.continuation_subject`: whoever may
publish there may send the request), under the first piece's key (sender, call, token). The
whole request is then served as if it had arrived in one message on the first piece's subject.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .._transport.base import Message
from .._wire import fragments as _pieces
from .._wire import frames as _frames
from .._wire import subjects as _subjects
from .context import CallOptions
from .fragments import Reassembly, Set
from .guard import WireGuard
from .intake import Route, Served

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("actorbus.actor")

__all__ = ["PieceIntake"]


class PieceIntake:
    """Mixed into `Server`: what it needs of the server is declared here."""

    hub: Hub
    host: str
    instance: str
    options: CallOptions
    guard: WireGuard
    _routes: dict[Route, Served]
    _own_queue: str
    _accepting: bool

    def _answer(self, reply: str | None, frame: _frames.Frame) -> None:
        raise NotImplementedError

    def _on_request(
        self, msg: Message, frame: _frames.Request, route: Route | None, marker: str | None
    ) -> None:
        raise NotImplementedError

    def _on_piece(
        self, msg: Message, piece: _frames.Fragment, route: Route | None, marker: str | None
    ) -> None:
        """A piece of a request past the server's ``max_payload``. The first starts a set (on
        the route's subject, like the request) and is acked at once, so the caller sends the
        rest here alone; later pieces count only on this instance's direct subject for the same
        route (`subjects.continuation_subject`: who may publish there is who may send the
        request), under the first piece's key. The whole request is then served as if it had
        arrived in one message on the first piece's subject."""
        store = self.hub.fragments
        key = ("req", self.instance, piece.from_instance, piece.msg_id, piece.token)
        if piece.index == 0:
            self._begin_set(msg, piece, route, marker, key, store)
            return
        pending = store.get(key)
        if pending is None:
            self.guard.count(
                "fragment_unmatched",
                f"piece {piece.index} of {piece.msg_id} from {piece.from_host}",
            )
            return
        first: _SetStart = pending.context  # type: ignore[assignment]
        if route is not None or marker != self.instance or msg.subject != first.continuation:
            self.guard.count("fragment_invalid", f"a piece of {piece.msg_id} on {msg.subject}")
            return
        outcome = store.add(pending, piece)
        if outcome == _pieces.Assembly.DUPLICATE:
            self.guard.count("duplicate", f"piece {piece.index} of {piece.msg_id}")
        elif outcome == _pieces.Assembly.INVALID:
            self.guard.count("fragment_invalid", f"piece {piece.index} of {piece.msg_id}")
            message = f"the pieces of request {piece.msg_id} contradict each other; it did not run"
            self._answer(first.reply, self._set_fault(first, 400, "BadRequest", message))
        elif outcome == _pieces.Assembly.DONE:
            data = pending.assembly.join()
            try:
                frame = _frames.decode(data)
            except _frames.FrameError as exc:
                self.guard.count("malformed", f"a request in pieces: {exc}")
                return
            if type(frame) is not _frames.Request or (
                frame.from_host,
                frame.from_instance,
                frame.msg_id,
                frame.token,
            ) != (piece.from_host, piece.from_instance, piece.msg_id, piece.token):
                self.guard.count("malformed", f"pieces of {piece.msg_id} that are no such request")
                return
            self._on_request(
                Message(first.subject, data, first.reply), frame, first.route, first.marker
            )

    def _begin_set(
        self,
        msg: Message,
        piece: _frames.Fragment,
        route: Route | None,
        marker: str | None,
        key: tuple[str, ...],
        store: Reassembly,
    ) -> None:
        served = self._routes.get(route) if route is not None else None
        queue = served.queue if served is not None else self._own_queue
        continuation = _subjects.continuation_subject(
            msg.subject, self.hub.plane, self.host, self.instance
        )
        first = _SetStart(msg.subject, msg.reply, route, marker, continuation, piece, queue)
        limit = self.options.max_body
        why = _pieces.check_first(piece, limit + _pieces.FRAME_SLACK)
        if why == "too large":
            self.guard.count("too_large", f"a request of {piece.size} bytes from {piece.from_host}")
            message = f"the request of {piece.size} bytes is over {self.host}'s limit of {limit}"
            self._answer(msg.reply, self._set_fault(first, 413, "PayloadTooLarge", message))
            return
        if why or not msg.reply or not continuation:
            self.guard.count("fragment_invalid", f"{why or 'no reply subject'} on {msg.subject}")
            return
        if not self._accepting:
            message = f"{self.host} is shutting down: the request did not run; retry"
            self._answer(msg.reply, self._set_fault(first, 503, "Overloaded", message))
            return
        outcome = store.begin(key, piece, first, self._stalled)
        if outcome == Reassembly.DUPLICATE:
            self.guard.count("duplicate", f"first piece of {piece.msg_id} from {piece.from_host}")
        elif outcome == Reassembly.FULL:
            self.guard.count("fragment_refused", f"{piece.size} bytes from {piece.from_host}")
            message = (
                f"{self.host} holds as many fragmented requests as it may "
                f"({store.budget.held} bytes); the request did not run; retry later"
            )
            self._answer(msg.reply, self._set_fault(first, 503, "Overloaded", message))
        else:  # acked now: the caller sends the rest to this instance
            ack = _frames.Ack(
                msg_id=piece.msg_id,
                from_host=self.host,
                from_instance=self.instance,
                queue=queue,
                token=piece.token,
            )
            self._answer(msg.reply, ack)

    def _stalled(self, pending: Set) -> None:
        first: _SetStart = pending.context  # type: ignore[assignment]
        got, size = pending.assembly.received, pending.assembly.size
        self.guard.count("fragment_stalled", f"{got} of {size} bytes of {first.piece.msg_id}")
        message = (
            f"the pieces of the request stopped arriving ({got} of {size} bytes); it did not run"
        )
        self._answer(first.reply, self._set_fault(first, 400, "IncompleteRequest", message))

    def _set_fault(self, first: _SetStart, status: int, type_: str, message: str) -> _frames.Fault:
        return _frames.Fault(
            msg_id=first.piece.msg_id,
            from_host=self.host,
            from_instance=self.instance,
            queue=first.queue,
            status=status,
            type=type_,
            message=message,
            token=first.piece.token,
        )


class _SetStart:
    """What the first piece of a fragmented request told: where the request arrived (subject,
    reply, route or direct marker), where the rest must come from, and its queue."""

    __slots__ = ("continuation", "marker", "piece", "queue", "reply", "route", "subject")

    def __init__(
        self,
        subject: str,
        reply: str | None,
        route: Route | None,
        marker: str | None,
        continuation: str,
        piece: _frames.Fragment,
        queue: str,
    ) -> None:
        self.subject = subject
        self.reply = reply
        self.route = route
        self.marker = marker
        self.continuation = continuation
        self.piece = piece
        self.queue = queue


async def reply_in_pieces(
    hub: Hub, host: str, reply: str, frame: _frames.Frame, data: bytes
) -> None:
    """A reply past ``max_payload`` from a worker: piece by piece, each made while the writer
    sends the last."""
    transport = hub.transport
    try:
        pieces = _pieces.Pieces(data, transport.max_payload, frame, host)
        for index in range(len(pieces)):
            if index and transport.backlogged:
                await transport.wait_writable()
            hub.publish_reply(reply, pieces.piece(index), host)
    except Exception as exc:
        log.warning("%s: could not send a reply in pieces: %r", host, exc)
