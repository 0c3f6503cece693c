"""The public error tree and its conversion to and from `Fault` frames (the single boundary).

Error                 every actorbus error
├── HTTPError         raised by a handler to choose the status: HTTPError(404, "no user")
├── RemoteError       the remote handler failed: .status .remote_type .message
│                     .remote_traceback
├── BadRequest        arguments failed validation (400), on the caller or the callee
├── Forbidden         the handler does not admit this caller (403, its ``callers=``)
├── NoResponder       nobody serves that endpoint (404), known fast; the call did not run
├── AckTimeout        subscribers exist but none acknowledged in the ack window (504); the
│                     call may or may not have run
├── TimeBudgetExceeded  the default time budget ran out (408); also trio.TooSlowError
├── CallDepthExceeded the call chain went past the depth limit (508)
├── PayloadTooLarge   a request or reply body over the App's ``max_body`` (413); also an
│                     ``actorbus.transport.PayloadTooLarge``
├── Overloaded        the responder is at its bound of running and queued handlers (503):
│                     nothing ran, retry later
└── BusError          the bus failed: closed, disconnected, a reply that doesn't decode; when
                      the connection dropped after sending, the message says the outcome is
                      unknown
"""

from __future__ import annotations

import traceback as _tb
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from .._excgroups import sole_exception
from .._transport.base import PayloadTooLarge as _TransportTooLarge
from .._transport.base import TransportError
from .._wire import frames as _frames

__all__ = [
    "AckTimeout",
    "BadRequest",
    "BusError",
    "CallDepthExceeded",
    "Error",
    "Forbidden",
    "HTTPError",
    "NoResponder",
    "Overloaded",
    "PayloadTooLarge",
    "RemoteError",
    "TimeBudgetExceeded",
    "bus_errors",
    "exception_from_fault",
    "fault_from_exception",
]


class Error(Exception):
    """Base class of every actorbus error; ``status`` is HTTP-like."""

    status: int = 500

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class HTTPError(Error):
    """Raise in a handler to answer with a chosen status: ``raise HTTPError(404, "not found")``."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = int(status)

    def __str__(self) -> str:
        return f"[{self.status}] {self.message}"


class RemoteError(Error):
    """The remote handler raised; carries its status, type name, message and traceback."""

    def __init__(
        self,
        status: int,
        remote_type: str,
        message: str,
        remote_traceback: str = "",
        *,
        host: str = "",
        instance: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback
        self.host = host
        self.instance = instance

    def __str__(self) -> str:
        where = f" from {self.host}" if self.host else ""
        return f"[{self.status}] {self.remote_type}{where}: {self.message}"


class BadRequest(Error):
    """Arguments failed validation (400). Raised on the caller, before anything is sent."""

    status = 400


class Forbidden(Error):
    """The handler does not admit this caller (403): it lists its ``callers`` and this host is
    not one of them. Nothing ran."""

    status = 403


class NoResponder(Error):
    """Nobody is subscribed to that endpoint (404): the server's no-responders status, known
    fast. The request reached no one, so the call did not run."""

    status = 404


class AckTimeout(Error):
    """Subscribers exist but none acknowledged within the ack window (504): the responder may be
    stuck or too busy. The call may have run; retry only what is safe to run twice."""

    status = 504


class TimeBudgetExceeded(Error, trio.TooSlowError):
    """The default time budget ran out (408); a caller's own deadline fires its own scope."""

    status = 408


class CallDepthExceeded(Error):
    """The chain of calls went past the depth limit (508), refused before sending."""

    status = 508


class PayloadTooLarge(Error, _TransportTooLarge):
    """A request or reply body is larger than ``App(max_body=...)`` allows (413), on every bus
    and for co-located calls alike; the request was not sent, or the reply not delivered.

    The one type users see: it is also the transport's ``PayloadTooLarge``, so code written
    against either catches it. ``size`` and ``limit`` are in bytes (0 when not known here).
    """

    status = 413

    def __init__(self, message: str, size: int = 0, limit: int = 0) -> None:
        Exception.__init__(self, message)
        self.size = size
        self.limit = limit


class Overloaded(Error):
    """The responder refused the call at once: its handlers and their queue are full, or it is
    shutting down (503).

    The handler did not run, so the call is safe to retry later (``retryable`` is True);
    a `RemoteError` instead means the handler ran and failed.
    """

    status = 503
    retryable = True


class BusError(Error):
    """The bus failed: closed, disconnected, or a reply that does not decode. A call whose
    connection dropped after its request was sent gets one at once, saying the outcome is
    unknown (the handler may or may not have run)."""

    status = 503


#: Fault type of a 408 that the callee's ``max_budget`` caused (the caller's deadline is later).
BUDGET_CAPPED = "TimeBudgetCapped"


def fault_from_exception(
    exc: BaseException, *, msg_id: str, host: str, instance: str, queue: str, token: str = ""
) -> _frames.Fault:
    """An exception raised on this side → a Fault frame (status kept for actorbus errors)."""
    status = getattr(exc, "status", 500) if isinstance(exc, Error) else 500
    if isinstance(exc, RemoteError):
        remote_type, tb = exc.remote_type, exc.remote_traceback
    else:
        remote_type = type(exc).__name__
        tb = "".join(_tb.format_exception(exc))
    message = exc.message if isinstance(exc, Error) else str(exc)
    return _frames.Fault(
        msg_id=msg_id,
        from_host=host,
        from_instance=instance,
        queue=queue,
        status=int(status),
        type=remote_type,
        message=message,
        traceback=tb,
        token=token,
    )


def exception_from_fault(fault: _frames.Fault) -> Error:
    """A Fault frame → the exception the caller sees."""
    if fault.status == 400 and fault.type == "BadRequest":
        err: Error = BadRequest(f"{fault.from_host}: {fault.message}")
        return err
    if fault.status == 403 and fault.type == "Forbidden":
        return Forbidden(f"{fault.from_host}: {fault.message}")
    if fault.status == 503 and fault.type == "Overloaded":
        return Overloaded(f"{fault.from_host}: {fault.message}")
    if fault.status == 408 and fault.type in ("TimeBudgetExceeded", BUDGET_CAPPED):
        return TimeBudgetExceeded(f"{fault.from_host}: {fault.message}")
    if fault.status == 413 and fault.type == "PayloadTooLarge":
        return PayloadTooLarge(f"{fault.from_host}: {fault.message}")
    return RemoteError(
        fault.status,
        fault.type,
        fault.message,
        fault.traceback,
        host=fault.from_host,
        instance=fault.from_instance,
    )


@contextmanager
def bus_errors(what: str = "") -> Iterator[None]:
    """A `TransportError` (alone, or in nested groups of nothing else: the first) becomes a
    one-line `BusError` (``"<what>: <cause>"``), so `App` and ``app.add`` raise only actorbus
    errors."""
    try:
        yield
    except (TransportError, BaseExceptionGroup) as exc:
        cause = sole_exception(exc)
        if isinstance(exc, BaseExceptionGroup) and cause is None:  # several connections failed
            failures, rest = exc.split(TransportError)
            if failures is None or rest is not None:
                raise
            cause = failures
            while isinstance(cause, BaseExceptionGroup):
                cause = cause.exceptions[0]  # they share a cause: the first says it
        if not isinstance(cause, TransportError) or isinstance(cause, Error):
            raise
        text = " ".join(str(cause).split()) or type(cause).__name__
        raise BusError(f"{what}: {text}" if what else text) from cause
