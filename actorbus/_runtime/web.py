"""`HttpResponse`: a handler's answer for the HTTP ingress (HTML, a redirect, a file).

On the bus it is an ordinary msgspec value (tagged, so the ingress recognises it among plain
dicts); the ingress turns it into that HTTP status, headers and body.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["HTTP_RESPONSE_TAG", "HttpResponse", "http_response_from"]

HTTP_RESPONSE_TAG: Final = "actorbus.HttpResponse"


class HttpResponse(msgspec.Struct, tag_field="$type", tag=HTTP_RESPONSE_TAG):
    """``return HttpResponse("<h1>hi</h1>", content_type="text/html")`` from a handler.

    ``body`` is text (sent as UTF-8), bytes, or any other value (sent as JSON);
    ``content_type`` defaults to text/plain, application/octet-stream or application/json
    accordingly; ``headers`` are added as given.
    """

    body: Any = b""
    status: int = 200
    headers: dict[str, str] = {}
    content_type: str = ""

    def body_bytes(self) -> bytes:
        """The body as sent: text UTF-8 encoded, bytes as they are, anything else as JSON."""
        if isinstance(self.body, str):
            return self.body.encode()
        if isinstance(self.body, bytes | bytearray | memoryview):
            return bytes(self.body)
        return msgspec.json.encode(self.body)

    def media_type(self) -> str:
        """``content_type`` if set, else what the body's type implies (text, bytes or JSON)."""
        if self.content_type:
            return self.content_type
        if isinstance(self.body, str):
            return "text/plain; charset=utf-8"
        if isinstance(self.body, bytes | bytearray | memoryview):
            return "application/octet-stream"
        return "application/json"


_convert: Final = msgspec.convert


def http_response_from(value: Any) -> HttpResponse | None:
    """The `HttpResponse` a decoded reply value carries, or None for any other value."""
    if isinstance(value, HttpResponse):
        return value
    if not isinstance(value, dict) or value.get("$type") != HTTP_RESPONSE_TAG:
        return None
    try:
        return _convert(value, HttpResponse)
    except msgspec.ValidationError:
        return None
