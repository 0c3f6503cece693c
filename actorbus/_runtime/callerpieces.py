"""Frames that go and come in pieces (past the server's ``max_payload``): the caller's half.

A request in pieces sends only its first piece where the request would go; each instance that
acks it gets the rest on its direct subject (`subjects.continuation_subject`), so replicas
never receive halves. A reply's pieces arrive on the caller's answer subject, which names the
sender (as every answer does); a set is keyed by the sender instance, the call and its token,
and only a call in flight, with its own token, can start one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from .._transport.base import TransportError
from .._wire import fragments as _pieces
from .._wire import frames as _frames
from .._wire import subjects as _subjects
from . import errors as _errors
from .context import CallOptions
from .fragments import Reassembly, Set
from .guard import WireGuard
from .replies import Mailbox

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["Outgoing", "PieceReader"]


class Outgoing:
    """A request in pieces (made as they are sent), and the instances that got them."""

    __slots__ = ("pieces", "sent", "subject")

    def __init__(self, subject: str, pieces: _pieces.Pieces) -> None:
        self.subject = subject
        self.pieces = pieces
        self.sent: set[str] = set()


class PieceReader:
    """Mixed into `Caller`: what it needs of the caller is declared here."""

    hub: Hub
    host: str
    instance: str
    options: CallOptions
    guard: WireGuard
    reply_prefix: str
    _pending: dict[str, Mailbox]
    _outgoing: dict[str, Outgoing]

    def _accept(
        self,
        frame: _frames.Ack | _frames.Response | _frames.Fault,
        sender: str,
        box: Mailbox | None,
        msg_id: str,
    ) -> None:
        raise NotImplementedError

    # -- requests ------------------------------------------------------------------------------

    def _send_in_pieces(self, subject: str, frame: _frames.Request, data: bytes) -> bool:
        try:
            pieces = _pieces.Pieces(data, self.hub.transport.max_payload, frame, self.host)
        except ValueError as exc:
            raise _errors.PayloadTooLarge(f"request to {frame.host}{frame.path}: {exc}") from None
        self._outgoing[frame.msg_id] = Outgoing(subject, pieces)
        first = pieces.piece(0)
        try:  # acks come back even for a one-way request: the rest goes to who acked
            self.hub.publish(subject, first, reply=f"{self.reply_prefix}.{frame.msg_id}")
        except TransportError as exc:
            del self._outgoing[frame.msg_id]
            raise _errors.BusError(f"cannot send to {frame.host}{frame.path}: {exc}") from None
        return True

    async def continue_to(self, frame: _frames.Request, instance: str, host: str) -> None:
        """Send the rest of ``frame`` (once) to ``instance`` of ``host``, which acked its first
        piece; held back while the outbound buffer is full, so memory stays one buffer."""
        out = self._outgoing.get(frame.msg_id)
        if out is None or instance in out.sent:
            return
        out.sent.add(instance)
        try:  # the acker's names come from its ack: checked before they make a subject
            _subjects.validate_hostname(host)
            subject = _subjects.continuation_subject(out.subject, self.hub.plane, host, instance)
        except _subjects.SubjectError:
            subject = ""
        if not subject:
            self.guard.count("malformed", f"an ack of {frame.msg_id} from {host!r}/{instance!r}")
            return
        transport = self.hub.transport
        pieces = out.pieces
        if not frame.multicast:  # one acker only
            del self._outgoing[frame.msg_id]
        for index in range(1, len(pieces)):
            if transport.backlogged:  # the writer sends what is buffered while we make more
                await transport.wait_writable()
            try:
                self.hub.publish(subject, pieces.piece(index))
            except TransportError as exc:
                raise _errors.BusError(
                    f"cannot send the rest of the request to {host}{frame.path}: {exc}; "
                    "it did not run"
                ) from None

    # -- replies -------------------------------------------------------------------------------

    def _on_piece(
        self, piece: _frames.Fragment, sender: str, box: Mailbox | None, msg_id: str
    ) -> None:
        """A piece of an answer to one of our calls, from ``sender`` (the subject's token)."""
        if _subjects.host_token(piece.from_host) != sender:
            self.guard.count("unauthenticated", f"{sender} sent a piece as {piece.from_host}")
            return
        if box is None:
            self.guard.count("fragment_unmatched", f"a piece for call {msg_id}")
            return
        if piece.token != box.token or piece.msg_id != msg_id:
            self.guard.count("unauthenticated", f"a piece for call {msg_id}")
            return
        store = self.hub.fragments
        key = ("res", self.instance, piece.from_instance, msg_id, piece.token)
        if piece.index == 0:
            self._begin_reply(piece, box, key, store)
            return
        pending = store.get(key)
        if pending is None:
            self.guard.count("fragment_unmatched", f"piece {piece.index} for call {msg_id}")
            return
        outcome = store.add(pending, piece)
        if outcome == _pieces.Assembly.DUPLICATE:
            self.guard.count("duplicate", f"piece {piece.index} for call {msg_id}")
        elif outcome == _pieces.Assembly.INVALID:
            self.guard.count("fragment_invalid", f"piece {piece.index} for call {msg_id}")
            message = "the pieces of the reply contradict each other; the handler ran"
            box.put(_fault(piece, 502, "IncompleteReply", message))
        elif outcome == _pieces.Assembly.DONE:
            try:
                frame = _frames.decode(pending.assembly.join())
            except _frames.FrameError as exc:
                self.guard.count("malformed", f"a reply in pieces for call {msg_id}: {exc}")
                return
            if not isinstance(frame, _frames.Ack | _frames.Response | _frames.Fault) or (
                frame.msg_id,
                frame.from_host,
                frame.from_instance,
            ) != (msg_id, piece.from_host, piece.from_instance):
                self.guard.count("malformed", f"pieces for call {msg_id} that are no such reply")
                return
            self._accept(frame, sender, box, msg_id)

    def _begin_reply(
        self,
        piece: _frames.Fragment,
        box: Mailbox,
        key: tuple[str, ...],
        store: Reassembly,
    ) -> None:
        limit = self.options.max_body
        why = _pieces.check_first(piece, limit + _pieces.FRAME_SLACK)
        if why == "too large":
            self.guard.count("too_large", f"a reply of {piece.size} bytes from {piece.from_host}")
            message = f"the reply of {piece.size} bytes is over this caller's limit of {limit}"
            box.put(_fault(piece, 413, "PayloadTooLarge", message))
            return
        if why:
            self.guard.count("fragment_invalid", f"{why} from {piece.from_host}")
            return
        outcome = store.begin(key, piece, (box, piece), self._reply_stalled)
        if outcome == Reassembly.DUPLICATE:
            self.guard.count("duplicate", f"first piece of the reply to {piece.msg_id}")
        elif outcome == Reassembly.FULL:
            self.guard.count("fragment_refused", f"a reply of {piece.size} bytes")
            message = (
                f"the reply of {piece.size} bytes was dropped: this process holds as many "
                f"fragments as it may ({store.budget.held} bytes); the handler ran"
            )
            box.put(_fault(piece, 507, "ReplyNotHeld", message))

    def _too_large(self, frame: _frames.Response) -> _frames.Fault:
        size, limit = len(frame.body), self.options.max_body
        self.guard.count("too_large", f"a reply of {size} bytes from {frame.from_host}")
        message = f"the reply of {size} bytes is over this caller's limit of {limit}"
        return _frames.Fault(
            msg_id=frame.msg_id,
            from_host=frame.from_host,
            from_instance=frame.from_instance,
            queue=frame.queue,
            status=413,
            type="PayloadTooLarge",
            message=message,
            token=frame.token,
        )

    def _reply_stalled(self, pending: Set) -> None:
        box, piece = cast("tuple[Mailbox, _frames.Fragment]", pending.context)
        got, size = pending.assembly.received, pending.assembly.size
        self.guard.count("fragment_stalled", f"{got} of {size} bytes of a reply")
        if self._pending.get(piece.msg_id) is box:
            message = f"the pieces of the reply stopped arriving ({got} of {size} bytes)"
            box.put(_fault(piece, 502, "IncompleteReply", message))


def _fault(piece: _frames.Fragment, status: int, type_: str, message: str) -> _frames.Fault:
    """What the call hears, in the responder's name, when its reply cannot be put together."""
    return _frames.Fault(
        msg_id=piece.msg_id,
        from_host=piece.from_host,
        from_instance=piece.from_instance,
        queue="",
        status=status,
        type=type_,
        message=message,
        token=piece.token,
    )
