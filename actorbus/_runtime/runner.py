"""Running one handler: under its budget scope, traced and counted, its outcome as a frame.

The server decides what runs and when; this says how. A handler's exception becomes a `Fault`
(with the remote traceback) and never escapes; a call cancelled by its caller yields no frame.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Final

import trio

from .._observe import spans as _trace
from .._observe.metrics import EndpointStats
from .._wire import callstate as _callstate
from .._wire import frames as _frames
from . import errors as _errors
from .context import CallOptions
from .declarations import HandlerSpec
from .hub import Hub
from .intake import Call, Gate
from .pathargs import body_for

__all__ = ["Runner"]

log = logging.getLogger("actorbus.actor")

#: How much earlier than its budget says a handler on a worker's scope may be cut short: budgets
#: travel in whole milliseconds, so a scope whose deadline is at most this much early is kept.
_DEADLINE_GRAIN: Final = 0.001

#: The outcome of a fire-and-forget call that returned: counted as a 200, never sent.
_HANDLED: Final = _frames.Response(msg_id="", from_host="", from_instance="", queue="")


class Runner:
    """Runs the handlers of one actor instance (``actor`` is the object they are bound to)."""

    def __init__(
        self,
        actor: object,
        hub: Hub,
        host: str,
        instance: str,
        options: CallOptions,
        stats: dict[str, EndpointStats],
    ) -> None:
        self.actor = actor
        self.hub = hub
        self.host = host
        self.instance = instance
        self.options = options
        self._stats = stats
        self.stopping = False  # the grace period is over: a cancelled handler answers 503

    def fault(
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
            token=frame.token,
        )

    def shutdown_fault(self, call: Call) -> _frames.Fault:
        message = f"{self.host} shut down before {call.spec.name} finished"
        return self.fault(call.frame, call.queue, 503, "ServiceUnavailable", message)

    def to_fault(self, frame: _frames.Response, exc: BaseException) -> _frames.Fault:
        return _errors.fault_from_exception(
            exc,
            msg_id=frame.msg_id,
            host=self.host,
            instance=self.instance,
            queue=frame.queue,
            token=frame.token,
        )

    async def run(
        self, call: Call, scope: trio.CancelScope | None = None
    ) -> _frames.Response | _frames.Fault | None:
        """Run one handler under its budget; its outcome as a Response or Fault frame.

        ``scope`` is a worker's entered cancel scope (`Workers`), lent for this call: its
        deadline becomes the call's, and when it is what stops the handler, the outcome is left
        in ``call.outcome`` and the `trio.Cancelled` goes on up to the worker. Without one (a
        co-located call in its caller's task) the call gets a scope of its own.
        """
        frame, spec = call.frame, call.spec
        deadline = call.deadline
        if deadline is None:  # fire and forget: its budget starts with its handler
            opts = self.options
            deadline = _callstate.handler_deadline(
                trio.current_time(), frame.budget_ms, opts.hop_reserve, opts.max_budget
            )
        own = scope is None
        if scope is None:
            scope = trio.CancelScope(deadline=deadline)
        elif not deadline - _DEADLINE_GRAIN <= scope.deadline <= deadline:
            scope.deadline = deadline  # (2 µs: a stream of calls resets it once per grain)
        call.scope = scope
        if call.cancelled or self.stopping:  # cancelled before it got to run
            scope.cancel()
        t0 = time.perf_counter_ns()
        span = None
        tracer = self.hub.spans
        if tracer.active or frame.trace_id or frame.traceparent:
            span = tracer.server(frame, self.host, self.instance, spec.kind == "sink")
        elif _trace.current_span.get() is not None:
            _trace.current_span.set(None)  # not the caller's trace: this handler starts none
        try:
            if own:
                with scope:
                    out = await self._attempt(call)
                if scope.cancelled_caught:
                    out = self._cut_short(call)
            else:
                out = await self._attempt(call)
        except trio.Cancelled:
            if scope.cancel_called:  # our scope: the call was cut short, its worker goes on
                call.outcome = self._cut_short(call)
                self._end(span, frame, spec, call.outcome, t0)
            raise
        self._end(span, frame, spec, out, t0)
        return out

    async def _attempt(self, call: Call) -> _frames.Response | _frames.Fault | None:
        """The handler itself: its return value or its exception as a frame."""
        frame, spec = call.frame, call.spec
        try:
            # Cancelled or out of budget while it waited at its gate: don't start it.
            await trio.lowlevel.checkpoint_if_cancelled()
            result = await self._invoke(frame, spec, call.gate)
            if frame.oneway and call.settle is None:
                return _HANDLED  # nobody reads the reply: not worth encoding
            return _frames.Response(
                msg_id=frame.msg_id,
                from_host=self.host,
                from_instance=self.instance,
                queue=call.queue,
                body=spec.signature.encode_result(result),
                token=frame.token,
            )
        except Exception as exc:
            if not isinstance(exc, _errors.Error) or exc.status >= 500:
                log.warning("%s: %s raised %r", self.host, spec.name, exc, exc_info=exc)
            out = _errors.fault_from_exception(
                exc,
                msg_id=frame.msg_id,
                host=self.host,
                instance=self.instance,
                queue=call.queue,
                token=frame.token,
            )
            shown = self.options.tracebacks
            if shown is not True and (shown is False or frame.from_host not in shown):
                out.traceback = ""  # the type and message only: the code stays ours
            return out

    def _cut_short(self, call: Call) -> _frames.Fault | None:
        """The outcome of a call its scope stopped: none for a caller that cancelled (it is
        not listening), 503 at shutdown, else 408 (its budget, or our cap of it, ran out)."""
        if call.cancelled:
            return None
        frame, spec, queue = call.frame, call.spec, call.queue
        if self.stopping:
            return self.shutdown_fault(call)
        cap = int(self.options.max_budget * 1000)
        if frame.budget_ms > cap:  # our cap, not the caller's deadline: it says so
            message = f"{spec.name} ran out of {self.host}'s max_budget of {cap} ms"
            return self.fault(frame, queue, 408, _errors.BUDGET_CAPPED, message)
        message = f"{spec.name} ran out of its time budget of {frame.budget_ms} ms"
        return self.fault(frame, queue, 408, "TimeBudgetExceeded", message)

    def _end(
        self,
        span: _trace.OpenSpan | None,
        frame: _frames.Request,
        spec: HandlerSpec,
        out: _frames.Response | _frames.Fault | None,
        t0: int,
    ) -> None:
        if span is not None:
            span.end_with(out)
        self._count(frame, spec, out, time.perf_counter_ns() - t0)

    def _count(
        self,
        frame: _frames.Request,
        spec: HandlerSpec,
        out: _frames.Response | _frames.Fault | None,
        elapsed_ns: int,
    ) -> None:
        """Endpoint stats (always) and the metrics observer (when on) for one handled call."""
        if out is None:
            status, error = 499, ""
        elif isinstance(out, _frames.Fault):
            status, error = out.status, f"{out.status} {out.type}: {out.message}"
        else:
            status, error = 200, ""
        self._stats[spec.name].record(elapsed_ns, error)
        metrics = self.hub.metrics
        if metrics.enabled:
            metrics.served(
                self.host, frame.port, frame.method, frame.path, status, elapsed_ns / 1e9
            )

    async def _invoke(self, frame: _frames.Request, spec: HandlerSpec, gate: Gate) -> Any:
        sig = spec.signature
        kwargs = sig.decode_args(body_for(spec, frame))
        if spec.blocking:  # a plain def: a worker thread, so the actor's Trio thread stays free
            call = functools.partial(spec.func, self.actor, **kwargs)
            result = await trio.to_thread.run_sync(call, limiter=gate.threads)
        else:
            result = await spec.func(self.actor, **kwargs)
        return sig.check_result(result)
