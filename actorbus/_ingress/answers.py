"""HTTP answers of the ingress: JSON values, ``{"error": {...}}`` bodies, `HttpResponse`s."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import trio

from .._runtime.errors import Error, RemoteError
from .._runtime.web import HttpResponse

__all__ = ["Answer", "error_answer", "exception_answer", "json_answer", "web_answer"]

log = logging.getLogger("actorbus.ingress")

JSON: Final = b"application/json"
_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers a handler may not set: the server frames the message itself.
_FRAMING: Final = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}


@dataclass
class Answer:
    """One HTTP response, sent in one piece."""

    status: int
    body: bytes = b""
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.headers.append((name.lower().encode(), value.encode("latin-1", "replace")))

    async def send(self, send: Any, *, head: bool = False) -> None:
        headers = [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})


def json_answer(value: Any, status: int = 200) -> Answer:
    try:
        return Answer(status, msgspec.json.encode(value))
    except (TypeError, msgspec.EncodeError) as exc:  # a reply value JSON cannot carry
        return error_answer(502, "BadReply", f"the reply cannot be sent as JSON: {exc}")


def error_answer(status: int, kind: str, message: str, traceback: str = "") -> Answer:
    """``{"error": {"status", "type", "message"}}`` (plus ``traceback`` when asked for)."""
    error: dict[str, Any] = {"status": status, "type": kind, "message": message}
    if traceback:
        error["traceback"] = traceback
    return Answer(status, msgspec.json.encode({"error": error}))


def exception_answer(exc: BaseException, *, tracebacks: bool) -> Answer:
    """A failed call → its status and error body; never a remote traceback unless asked for."""
    if isinstance(exc, RemoteError):
        tb = exc.remote_traceback if tracebacks else ""
        return error_answer(_status(exc.status), exc.remote_type, exc.message, tb)
    if isinstance(exc, Error):
        return error_answer(_status(exc.status), type(exc).__name__, exc.message)
    if isinstance(exc, trio.TooSlowError):
        return error_answer(408, "TimeBudgetExceeded", str(exc) or "the call took too long")
    log.error("the ingress failed on a request: %r", exc, exc_info=exc)
    return error_answer(500, "InternalError", "the ingress failed; its log says why")


def _status(status: int) -> int:
    return status if 400 <= status <= 599 else 500


def web_answer(response: HttpResponse) -> Answer:
    """A handler's `HttpResponse` as the HTTP answer it describes (bad headers are dropped)."""
    status = response.status
    if not isinstance(status, int) or not 100 <= status <= 599:
        return error_answer(502, "BadHttpResponse", f"the handler answered status {status!r}")
    ctype = response.media_type()
    if any(c in ctype for c in "\r\n\0"):
        ctype = "application/octet-stream"
    answer = Answer(status, response.body_bytes(), ctype.encode("latin-1", "replace"))
    for name, value in (response.headers or {}).items():
        bad = not _TOKEN.match(str(name)) or any(c in str(value) for c in "\r\n\0")
        if bad or str(name).lower() in _FRAMING or str(name).lower() == "content-type":
            log.warning("dropped the handler's response header %r", name)
            continue
        answer.add(str(name), str(value))
    return answer
