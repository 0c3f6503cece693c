"""Inbound: subscriptions of one actor instance, ack on receipt, handlers under the budget."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from .._transport.base import Message
from .._transport.base import PayloadTooLarge as _TransportTooLarge
from .._wire import frames as _frames
from .._wire import protocol as _protocol
from .._wire import subjects as _subjects
from . import errors as _errors
from . import spans as _trace
from .context import CallOptions, current_request
from .declarations import HandlerSpec
from .hub import Hub, LocalSubscription
from .logs import actor_tag, current_actor
from .metrics import EndpointStats

if TYPE_CHECKING:
    from .actor import Actor

__all__ = ["Server"]

log = logging.getLogger("actorbus.actor")

Route = tuple[str, int, str, str]  # host, port, method, path


_last_decoded: tuple[bytes, _frames.Frame] = (b"", _frames.Cancel("", "", ""))


def _decode_shared(data: bytes) -> _frames.Frame:
    """Decode, reusing the last result: a multicast reaching N local sinks is decoded once."""
    global _last_decoded
    last_data, last_frame = _last_decoded
    if data == last_data:
        return last_frame
    frame = _frames.decode(data)
    _last_decoded = (data, frame)
    return frame


class Server:
    """Serves one actor instance: its endpoints, its sinks and its direct address."""

    def __init__(
        self,
        actor: Actor,
        hub: Hub,
        host: str,
        instance: str,
        options: CallOptions,
        handlers: trio.Nursery,
        extra_routes: dict[Route, HandlerSpec] | None = None,
    ) -> None:
        self.actor = actor
        self.hub = hub
        self.host = host
        self.instance = instance
        self.options = options
        self._nursery = handlers
        self._routes: dict[Route, HandlerSpec] = {}
        self._queues: dict[Route, str] = {}
        self._subs: list[LocalSubscription] = []
        self._running: dict[tuple[str, str], trio.CancelScope] = {}
        self._cancelled: set[tuple[str, str]] = set()
        self._owed: dict[tuple[str, str], tuple[str, str, str, float]] = {}
        self._stopping = False
        self._inline: list[str] = []
        self._ack_wakeup: trio.Event | None = None
        self._accepting = False
        self._idle = trio.Event()
        self._idle.set()
        self._own_queue = f"~{instance}@{host}"
        self._log_tag = actor_tag(host, instance)  # log records name the serving instance
        for spec in type(actor)._handlers:
            self._add_route(spec)
        for route, spec in (extra_routes or {}).items():
            self._routes[route] = spec
            self._queues[route] = self._own_queue
        self._stats: dict[str, EndpointStats] = actor.stats.endpoints
        for spec in self._routes.values():
            self._stats.setdefault(spec.name, EndpointStats())

    def _add_route(self, spec: HandlerSpec) -> None:
        if spec.kind == "event":
            return  # the source fires it; sinks serve it
        if spec.kind == "sink":
            assert spec.source is not None
            host = spec.source.host
            queue = spec.queue or _subjects.queue_for(self.host)
        else:
            host, queue = self.host, _subjects.queue_for(self.host)
        route = (host, spec.port, spec.method, spec.path)
        if route in self._routes:
            raise TypeError(
                f"{type(self.actor).__name__}: {spec.name} and {self._routes[route].name} "
                f"both serve {spec.method} {host}:{spec.port}{spec.path}"
            )
        self._routes[route] = spec
        self._queues[route] = queue

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        """Subscribe everything; from here on the actor is discoverable."""
        plane, hub = self.hub.plane, self.hub
        self._accepting = True
        self._nursery.start_soon(self._send_acks)
        self._subs.append(
            await hub.subscribe(
                _subjects.direct_subscription(plane, self.host, self.instance),
                self._on_message,
                announce=False,
            )
        )
        self._subs.append(
            await hub.subscribe(
                _subjects.all_replicas_subscription(plane, self.host), self._on_message
            )
        )
        for (host, port, method, path), queue in self._queues.items():
            subject = _subjects.subscription_subject(plane, port, host, method, path)
            self._subs.append(await hub.subscribe(subject, self._on_message, queue=queue))
            if self._routes[(host, port, method, path)].kind == "endpoint" and queue == host:
                hub.add_inline(subject, self)
                self._inline.append(subject)
        await hub.transport.flush()

    async def stop_intake(self) -> None:
        """Stop taking new requests; handlers already running go on."""
        self._accepting = False
        for subject in self._inline:
            self.hub.remove_inline(subject, self)
        self._inline.clear()
        subs, self._subs = self._subs, []
        for sub in subs:
            await sub.unsubscribe()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    # -- the receive path (sync: called by the transport or the hub) ----------------------

    def _on_message(self, msg: Message) -> None:
        try:
            frame = _decode_shared(msg.data)
        except _frames.FrameError as exc:
            log.warning("%s: dropped a malformed frame on %s: %s", self.host, msg.subject, exc)
            return
        if isinstance(frame, _frames.Cancel):
            key = (frame.from_instance, frame.msg_id)
            scope = self._running.get(key)
            if scope is not None:
                self._cancelled.add(key)
                scope.cancel()
            return
        if not isinstance(frame, _frames.Request):
            log.warning("%s: dropped a %s frame sent to a request subject", self.host, type(frame))
            return
        route = (frame.host, frame.port, frame.method, frame.path)
        spec = self._routes.get(route)
        reply = None if frame.oneway else msg.reply
        queue = self._own_queue if ".~" in msg.subject else self._queues.get(route, self.host)
        if spec is None:
            self._answer(
                reply, self._fault(frame, queue, 404, "NotFound", f"no handler for {route}")
            )
            return
        if not self._accepting:
            return  # shutting down: no ack, so the caller looks elsewhere or fails fast
        now = trio.current_time()
        if reply is not None:
            # Delayed ack: a reply within `ack_delay` stands in for the ack (one message
            # fewer per call); longer handlers are acked by `_send_acks`, well inside the
            # caller's ack window.
            self._owed[(frame.from_instance, frame.msg_id)] = (reply, frame.msg_id, queue, now)
            if self._ack_wakeup is not None:
                self._ack_wakeup.set()
                self._ack_wakeup = None
        scope = trio.CancelScope(
            deadline=_protocol.handler_deadline(now, frame.budget_ms, self.options.hop_reserve)
        )
        self._start((frame.from_instance, frame.msg_id), scope)
        self._nursery.start_soon(self._handle, frame, spec, queue, reply, scope)

    async def _send_acks(self) -> None:
        """Ack every request that has been running for `ack_delay` without replying.

        One long-lived task per server, parked while nothing is owed (no timer, no respawn).
        """
        delay = self.options.ack_delay
        owed = self._owed
        while True:
            if not owed:
                self._ack_wakeup = wakeup = trio.Event()
                await wakeup.wait()
            await trio.sleep(delay)
            due = trio.current_time() - delay
            for key, (reply, msg_id, queue, since) in list(owed.items()):
                if since <= due:
                    del owed[key]
                    ack = _frames.Ack(
                        msg_id=msg_id, from_host=self.host, from_instance=self.instance, queue=queue
                    )
                    self._answer(reply, ack)

    def _fault(
        self, frame: _frames.Request, queue: str, status: int, type_: str, message: str
    ) -> _frames.Fault:
        return _frames.Fault(
            msg_id=frame.msg_id,
            from_host=self.host,
            from_instance=self.instance,
            queue=queue,
            status=status,
            type=type_,
            message=message,
        )

    def _shutdown_fault(
        self, frame: _frames.Request, spec: HandlerSpec, queue: str
    ) -> _frames.Fault:
        message = f"{self.host} shut down before {spec.name} finished"
        return self._fault(frame, queue, 503, "ServiceUnavailable", message)

    def _answer(self, reply: str | None, frame: _frames.Frame) -> None:
        if reply is None:
            return
        try:
            self.hub.publish_reply(reply, _frames.encode(frame))
        except _TransportTooLarge as exc:
            if isinstance(frame, _frames.Response):
                too_large = _errors.PayloadTooLarge(f"the reply is too large: {exc}")
                self._answer(reply, self._to_fault(frame, too_large))
            else:
                log.warning("%s: could not send a %s: %s", self.host, type(frame).__name__, exc)
        except Exception as exc:
            log.warning("%s: could not reply: %r", self.host, exc)

    def _to_fault(self, frame: _frames.Response, exc: BaseException) -> _frames.Fault:
        return _errors.fault_from_exception(
            exc, msg_id=frame.msg_id, host=self.host, instance=self.instance, queue=frame.queue
        )

    # -- the handler task --------------------------------------------------------------------

    async def _handle(
        self,
        frame: _frames.Request,
        spec: HandlerSpec,
        queue: str,
        reply: str | None,
        scope: trio.CancelScope,
    ) -> None:
        """A handler task: run, then answer on the bus (unless the caller cancelled)."""
        key = (frame.from_instance, frame.msg_id)
        current_request.set(frame)
        current_actor.set(self._log_tag)
        out: _frames.Frame | None = None
        try:
            out = await self._run_handler(frame, spec, queue, scope)
        except trio.Cancelled:
            if key not in self._cancelled:  # the actor is shutting down: say so, don't go silent
                self._answer(reply, self._shutdown_fault(frame, spec, queue))
            raise
        finally:
            self._done(key)
        if out is not None:
            self._answer(reply, out)

    def serves_inline(self, frame: _frames.Request) -> bool:
        """True when `call_inline` can serve ``frame`` now (routed here, not shutting down)."""
        return (
            self._accepting and (frame.host, frame.port, frame.method, frame.path) in self._routes
        )

    async def call_inline(self, frame: _frames.Request) -> _frames.Response | _frames.Fault:
        """Serve a co-located unicast in the caller's own task: no bus, no ack, no new task.

        Returns the reply frame the bus would have carried; call only after `serves_inline`.
        The caller's cancel scope cancels the handler directly; shutdown cancels it by scope.
        """
        spec = self._routes[(frame.host, frame.port, frame.method, frame.path)]
        key = (frame.from_instance, frame.msg_id)
        scope = trio.CancelScope(
            deadline=_protocol.handler_deadline(
                trio.current_time(), frame.budget_ms, self.options.hop_reserve
            )
        )
        self._start(key, scope)
        request_token = current_request.set(frame)
        actor_token = current_actor.set(self._log_tag)
        span_token = _trace.current_span.set(_trace.current_span.get())
        try:
            out = await self._run_handler(frame, spec, _subjects.queue_for(self.host), scope)
            assert out is not None  # only a cancel frame silences a handler; inline calls get none
            return out
        finally:
            _trace.current_span.reset(span_token)
            current_actor.reset(actor_token)
            current_request.reset(request_token)
            self._done(key)

    def _start(self, key: tuple[str, str], scope: trio.CancelScope) -> None:
        if self._idle.is_set():
            self._idle = trio.Event()
        self._running[key] = scope

    def _done(self, key: tuple[str, str]) -> None:
        self._owed.pop(key, None)
        del self._running[key]
        self._cancelled.discard(key)
        if not self._running:
            self._idle.set()

    def cancel_running(self) -> None:
        """Grace period over: cancel every handler still running (tasks and inline calls)."""
        self._stopping = True
        for scope in self._running.values():
            scope.cancel()

    async def _run_handler(
        self, frame: _frames.Request, spec: HandlerSpec, queue: str, scope: trio.CancelScope
    ) -> _frames.Response | _frames.Fault | None:
        """Run one handler under its budget scope; its outcome as a Response or Fault frame."""
        key = (frame.from_instance, frame.msg_id)
        t0 = time.perf_counter_ns()
        span = None
        tracer = self.hub.tracer
        if tracer.active or frame.trace_id or frame.traceparent:
            span = tracer.server(frame, self.host, self.instance, spec.kind == "sink")
        elif _trace.current_span.get() is not None:
            _trace.current_span.set(None)  # not the caller's trace: this handler starts none
        out: _frames.Response | _frames.Fault | None = None
        try:
            with scope:
                result = await self._invoke(frame, spec)
                out = _frames.Response(
                    msg_id=frame.msg_id,
                    from_host=self.host,
                    from_instance=self.instance,
                    queue=queue,
                    body=_frames.encode_body(result),
                )
            if scope.cancelled_caught and key not in self._cancelled:
                if self._stopping:
                    out = self._shutdown_fault(frame, spec, queue)
                else:
                    message = f"{spec.name} ran out of its time budget of {frame.budget_ms} ms"
                    out = self._fault(frame, queue, 408, "TimeBudgetExceeded", message)
        except Exception as exc:
            if not isinstance(exc, _errors.Error) or exc.status >= 500:
                log.warning("%s: %s raised %r", self.host, spec.name, exc, exc_info=exc)
            out = _errors.fault_from_exception(
                exc, msg_id=frame.msg_id, host=self.host, instance=self.instance, queue=queue
            )
        if span is not None:
            span.end_with(out)
        self._count(frame, spec, out, time.perf_counter_ns() - t0)
        return out

    def _count(
        self,
        frame: _frames.Request,
        spec: HandlerSpec,
        out: _frames.Response | _frames.Fault | None,
        elapsed_ns: int,
    ) -> None:
        """Endpoint stats (always) and the metrics observer (when on) for one handled call."""
        stats = self._stats[spec.name]
        stats.num_requests += 1
        stats.processing_ns += elapsed_ns
        if out is None:
            status = 499
        elif isinstance(out, _frames.Fault):
            status = out.status
            stats.num_errors += 1
            stats.last_error = f"{out.status} {out.type}: {out.message}"
        else:
            status = 200
        metrics = self.hub.metrics
        if metrics.enabled:
            metrics.served(
                self.host, frame.port, frame.method, frame.path, status, elapsed_ns / 1e9
            )

    async def _invoke(self, frame: _frames.Request, spec: HandlerSpec) -> Any:
        sig = spec.signature
        kwargs = sig.decode_args(bytes(frame.body))
        result = await spec.func(self.actor, **kwargs)
        return sig.check_result(result)
