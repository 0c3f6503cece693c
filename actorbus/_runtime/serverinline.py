"""Co-located unicasts: the server's half of a call served in its caller's task (no bus, no
ack, no task), under the same routes, bounds, callers and limits as over the bus."""

from __future__ import annotations

from typing import Any

import trio

from .._observe import spans as _trace
from .._observe.logs import current_actor
from .._wire import callstate as _callstate
from .._wire import frames as _frames
from .._wire import subjects as _subjects
from .context import CallOptions, current_request
from .intake import Call, Key, Route, Served
from .runner import Runner

__all__ = ["InlineServing"]


class InlineServing:
    """Mixed into `Server`: what it needs of the server is declared here."""

    host: str
    options: CallOptions
    _routes: dict[Route, Served]
    _running: dict[Key, Call]
    _idle: trio.Event
    _accepting: bool
    _runner: Runner
    _log_tag: Any

    def _too_large_reply(self, frame: _frames.Response) -> _frames.Fault:
        raise NotImplementedError

    def _done(self, call: Call, *, started: bool) -> None:
        raise NotImplementedError

    def serves_inline(self, frame: _frames.Request) -> bool:
        """True when `call_inline` can serve ``frame`` now: routed here, not shutting down,
        and its handler below its bound (otherwise the call goes over the bus, and waits or
        is refused there like any other)."""
        served = self._routes.get((frame.host, frame.port, frame.method, frame.path))
        if served is None or (
            served.callers is not None and not served.callers.admits(frame.from_host)
        ):
            return False  # over the bus, which refuses it as it would from anywhere
        return self._accepting and served.gate.free

    async def call_inline(self, frame: _frames.Request) -> _frames.Response | _frames.Fault:
        """Serve a co-located unicast in the caller's own task: no bus, no ack, no new task.

        Returns the reply frame the bus would have carried; call only after `serves_inline`.
        The caller's cancel scope cancels the handler directly; shutdown cancels it by scope.
        """
        served = self._routes[(frame.host, frame.port, frame.method, frame.path)]
        opts = self.options
        deadline = _callstate.handler_deadline(
            trio.current_time(), frame.budget_ms, opts.hop_reserve, opts.max_budget
        )
        queue = _subjects.queue_for(self.host)
        call = Call(frame, served.spec, served.gate, queue, None, deadline)
        if self._idle.is_set():
            self._idle = trio.Event()
        self._running[call.key] = call
        served.gate.running += 1
        request_token = current_request.set(frame)
        actor_token = current_actor.set(self._log_tag)
        span_token = _trace.current_span.set(_trace.current_span.get())
        try:
            out = await self._runner.run(call)
            assert out is not None  # only a cancel frame silences a handler; inline calls get none
            if type(out) is _frames.Response and len(out.body) > self.options.max_body:
                return self._too_large_reply(out)  # the same limit as over the bus
            return out
        finally:
            _trace.current_span.reset(span_token)
            current_actor.reset(actor_token)
            current_request.reset(request_token)
            self._done(call, started=True)
