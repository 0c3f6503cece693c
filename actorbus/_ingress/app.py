"""`Ingress`, the ASGI app: each HTTP request becomes one call through an `App`'s edge caller.

The pieces: `request` reads the target, arguments and budget; `catalog` knows which endpoints
exist (404/405 otherwise) and their schemas; `answers` shapes the response; `openapi` serves the
documents and the index page. The HTTP hop is traced as a server span whose W3C
``traceparent`` continues the caller's trace and comes back in the response.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import msgspec
import trio

from .._observe.spans import Span, current_span, new_span_id, new_trace_id
from .._runtime.errors import NoResponder
from .._runtime.web import http_response_from
from .._wire.frames import encode_body
from .._wire.tracecontext import format_traceparent, parse_traceparent
from .answers import Answer, error_answer, exception_answer, json_answer, web_answer
from .catalog import Catalog, find_route
from .openapi import index_page, openapi_document
from .options import IngressOptions
from .request import Refused, arguments, budget_of, header, read_body, split_target

__all__ = ["Ingress"]

log = logging.getLogger("actorbus.ingress")

_decode: Final = msgspec.msgpack.decode
_CORS_HEADERS: Final = "content-type, request-timeout, traceparent, tracestate, authorization"


class Ingress:
    """The ASGI application: ``await Ingress(app, options)(scope, receive, send)``.

    ``app`` is a running `App` (no actors needed); its caller's identity is the ingress's.
    """

    def __init__(self, app: Any, options: IngressOptions | None = None) -> None:
        self.app = app
        self.options = options if options is not None else IngressOptions()
        self.catalog = Catalog(app, self.options.describe_ttl)
        self.in_flight = 0
        self.refused_busy = 0  # 503s for the concurrency bound, for tests and metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":  # websockets: not served
            await send({"type": "websocket.close", "code": 1003})
            return
        head = scope.get("method") == "HEAD"
        if self.in_flight >= self.options.max_concurrent:
            self.refused_busy += 1
            answer = error_answer(503, "Overloaded", "too many requests in progress; retry")
            answer.add("Retry-After", "1")
            self._cors(scope, answer)
            await answer.send(send, head=head)
            return
        self.in_flight += 1
        try:
            answer = await self._traced(scope, receive)
        finally:
            self.in_flight -= 1
        await answer.send(send, head=head)

    # -- one request ---------------------------------------------------------------------

    async def _traced(self, scope: dict[str, Any], receive: Any) -> Answer:
        """Handle one request as one span of the caller's trace (or of a new one)."""
        start_ns = time.time_ns()
        t0 = time.perf_counter()
        upstream = parse_traceparent(header(scope, b"traceparent"))
        trace_id, parent = upstream if upstream else (new_trace_id(), None)
        span_id = new_span_id()
        current_span.set((trace_id, span_id))
        port = 0
        try:
            answer, port = await self._answer(scope, receive)
        except Refused as exc:
            answer = error_answer(exc.status, exc.kind, exc.message)
            if exc.allow:
                answer.add("Allow", ", ".join(exc.allow))
        except Exception as exc:
            answer = exception_answer(exc, tracebacks=self.options.tracebacks)
        answer.add("traceparent", format_traceparent(trace_id, span_id))
        self._cors(scope, answer)
        tracer = self.app.hub.spans
        if tracer.active:
            client = scope.get("client") or ("", 0)
            tracer.emit(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_id=parent,
                    kind="call",
                    side="server",
                    from_host="http",
                    from_instance=f"{client[0]}:{client[1]}",
                    to_host=self.app.hostname,
                    to_instance=self.app.instance,
                    port=port,
                    method=str(scope.get("method", "")),
                    path=str(scope.get("path", "")),
                    status=answer.status,
                    start=start_ns,
                    duration_ms=(time.perf_counter() - t0) * 1000.0,
                )
            )
        return answer

    async def _answer(self, scope: dict[str, Any], receive: Any) -> tuple[Answer, int]:
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", "/"))
        if method == "OPTIONS" and header(scope, b"access-control-request-method"):
            return self._preflight(scope), 0
        if path == "/" and method in ("GET", "HEAD"):
            html = index_page(await self.catalog.every_host(), self.options)
            return Answer(200, html.encode(), b"text/html; charset=utf-8"), 0
        if path == "/openapi.json" and method in ("GET", "HEAD"):
            return json_answer(openapi_document(await self.catalog.every_host(), self.options)), 0
        host, port, route = split_target(path, self.options)
        if route == "/openapi.json" and method in ("GET", "HEAD"):
            return await self._host_document(host), 0
        try:
            desc = await self.catalog.describe(host)
        except NoResponder:
            raise Refused(404, "NotFound", f"no actor serves {host}") from None
        handler = None
        if desc is not None:
            handler, allowed = find_route(desc, method, port, route)
            if handler is None and allowed:
                raise Refused(
                    405, "MethodNotAllowed", f"{path} takes {', '.join(allowed)}", allowed
                )
            if handler is None:
                raise Refused(404, "NotFound", f"{host} has no endpoint {method} :{port}{route}")
        budget = budget_of(scope, self.options, self.app.options.max_budget)
        body = await read_body(scope, receive, self.options)
        args = arguments(body, bytes(scope.get("query_string", b"")), handler)
        try:
            data = encode_body(args)
        except (OverflowError, TypeError, msgspec.EncodeError) as exc:  # e.g. a huge integer
            raise Refused(400, "BadRequest", f"the arguments cannot be sent: {exc}") from None
        with trio.move_on_after(budget) as timer:
            value = await self.app.caller.call(host, port, method, route, data, _decode)
        if timer.cancelled_caught:
            message = f"{host}:{port}{route} did not answer within {budget:g} s"
            return error_answer(408, "TimeBudgetExceeded", message), port
        web = http_response_from(value)
        return (web_answer(web) if web is not None else json_answer(value)), port

    async def _host_document(self, host: str) -> Answer:
        try:
            desc = await self.catalog.describe(host)
        except NoResponder:
            raise Refused(404, "NotFound", f"no actor serves {host}") from None
        if desc is None:
            raise Refused(404, "NotFound", f"{host} does not describe its endpoints")
        return json_answer(openapi_document([desc], self.options))

    # -- CORS ----------------------------------------------------------------------------

    def _cors(self, scope: dict[str, Any], answer: Answer) -> None:
        allowed = self.options.allowed_origin(header(scope, b"origin"))
        if allowed is None:
            return
        answer.add("Access-Control-Allow-Origin", allowed)
        answer.add("Access-Control-Expose-Headers", "traceparent")
        if allowed != "*":
            answer.add("Vary", "Origin")

    def _preflight(self, scope: dict[str, Any]) -> Answer:
        """An allowed origin's preflight: 204 with the methods and headers it may use."""
        if self.options.allowed_origin(header(scope, b"origin")) is None:
            return error_answer(403, "Forbidden", "CORS: this origin is not allowed")
        answer = Answer(204, b"", b"text/plain")
        answer.add("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
        asked = header(scope, b"access-control-request-headers")
        answer.add("Access-Control-Allow-Headers", asked or _CORS_HEADERS)
        answer.add("Access-Control-Max-Age", "600")
        return answer


async def _lifespan(receive: Any, send: Any) -> None:
    """Nothing to set up or tear down: the App is owned by whoever made the ingress."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
