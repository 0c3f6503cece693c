"""Inbound: subscriptions of one actor instance, delayed acks, handlers under the budget.

The wire is not trusted. The handler is chosen from the subject a message arrived on (what
nats-server authorised), and a frame whose routing fields disagree is refused; the budget is
capped; each handler runs at most ``max_concurrent`` calls with a bounded line in front, past
which callers get `Overloaded` (503) at once and fire-and-forget requests are dropped; a cancel
only stops the call whose token it carries. What is refused is counted in ``actor.stats.wire``.
"""

from __future__ import annotations

import functools
import logging
import math

import trio

from .._observe.logs import actor_tag, current_actor
from .._observe.metrics import EndpointStats
from .._transport.base import Deliver, Message
from .._transport.base import PayloadTooLarge as _TransportTooLarge
from .._wire import callstate as _callstate
from .._wire import fragments as _pieces
from .._wire import frames as _frames
from .._wire import subjects as _subjects
from . import errors as _errors
from .callers import effective_callers
from .context import CallOptions, current_request
from .declarations import HandlerSpec
from .durable import Outcome, Settle
from .guard import WireGuard
from .hub import Hub, LocalSubscription
from .intake import (
    DEFAULT_INBOX,
    DEFAULT_INBOX_BYTES,
    Call,
    Gate,
    Key,
    Route,
    Served,
    call_failed,
    decode_shared,
    run_call,
)
from .pathargs import best_route, route_for  # path arguments, ANY, port 0
from .runner import Runner
from .serverdurable import DurableSinks
from .serverinline import InlineServing
from .serverpieces import PieceIntake, reply_in_pieces
from .shapes import ActorShape
from .workers import Workers

__all__ = ["Route", "Server"]

log = logging.getLogger("actorbus.actor")


class Server(PieceIntake, InlineServing):
    """Serves one actor instance: its endpoints, its sinks and its direct address (requests
    that come in pieces: `PieceIntake`; co-located calls in the caller's task:
    `InlineServing`)."""

    def __init__(
        self,
        actor: ActorShape,
        hub: Hub,
        host: str,
        instance: str,
        options: CallOptions,
        handlers: trio.Nursery,
        extra_routes: dict[Route, HandlerSpec] | None = None,
        guard: WireGuard | None = None,
    ) -> None:
        self.actor = actor
        self.hub = hub
        self.host = host
        self.instance = instance
        self.options = options
        self.guard = guard if guard is not None else WireGuard(host)
        self._nursery = handlers
        self._routes: dict[Route, Served] = {}
        self._gates: dict[HandlerSpec | None, Gate] = {}  # None: the instance-wide bound
        # Handler tasks: the hub's pool, shared by every actor on the connection (so a
        # multicast to many local sinks runs in one worker), or our own outside an App.
        self._pool: Workers[Call] = hub.workers or Workers(handlers, run_call, call_failed)
        self._subs: list[LocalSubscription] = []
        self._running: dict[Key, Call] = {}  # running or waiting at their gate
        self._inline: list[str] = []
        self._durable = DurableSinks(self)
        self._accepting = False
        self._idle = trio.Event()
        self._idle.set()
        self._own_queue = f"~{instance}@{host}"
        self._log_tag = actor_tag(host, instance)  # log records name the serving instance
        cls = type(actor)
        self._limit: int = getattr(cls, "max_concurrent", 100)
        self._instance_wide: bool = getattr(cls, "_instance_bound", False)
        self._room: int = getattr(cls, "max_queued", 100)
        self._inbox: tuple[int, int] = (
            getattr(cls, "max_inbox", DEFAULT_INBOX),
            getattr(cls, "max_inbox_bytes", DEFAULT_INBOX_BYTES),
        )
        for spec in cls._handlers:
            self._add_route(spec)
        for route, spec in (extra_routes or {}).items():
            self._routes[route] = Served(spec, self._own_queue, self._gate(spec, shared=False))
        stats: dict[str, EndpointStats] = actor.stats.endpoints
        for served in self._routes.values():
            stats.setdefault(served.spec.name, EndpointStats())
        self._runner = Runner(actor, hub, host, instance, options, stats)
        self._acks = hub.acks
        self._fault = self.fault = self._runner.fault
        self.take, self.spawn = self._take, handlers.start_soon  # for its durable sinks

    def _gate(self, spec: HandlerSpec, *, shared: bool = True) -> Gate:
        """The bound ``spec`` runs under: its own (``max_concurrent=`` on its decorator, or the
        actor's default, per handler), or in a mailbox (``max_concurrent = 1`` on the class)
        the one every handler without a bound of its own shares. The control port's routes
        always have their own, so a busy actor still answers."""
        key: HandlerSpec | None = spec
        if shared and spec.max_concurrent is None and self._instance_wide:
            key = None
        gate = self._gates.get(key)
        if gate is None:
            limit = spec.max_concurrent if spec.max_concurrent is not None else self._limit
            gate = self._gates[key] = Gate(limit, self._room, *self._inbox)
        return gate

    def _add_route(self, spec: HandlerSpec) -> None:
        if spec.kind == "event":
            return  # the source fires it; sinks serve it
        of_actor = type(self.actor)._callers
        if spec.kind == "sink":
            assert spec.source is not None
            host = spec.source.host
            queue = spec.queue or _subjects.queue_for(self.host)
            callers = effective_callers(spec.callers, of_actor, host)
        else:
            host, queue = self.host, _subjects.queue_for(self.host)
            callers = effective_callers(spec.callers, of_actor)
        route = (host, spec.port, spec.method, spec.path)
        if route in self._routes:
            raise TypeError(
                f"{type(self.actor).__name__}: {spec.name} and {self._routes[route].spec.name} "
                f"both serve {spec.method} {host}:{spec.port}{spec.path}"
            )
        self._routes[route] = Served(spec, queue, self._gate(spec), callers)

    @property
    def in_flight(self) -> int:
        """Calls running or waiting at their handler's bound."""
        return len(self._running)

    async def start(self) -> None:
        """Subscribe everything; from here on the actor is discoverable."""
        plane, hub = self.hub.plane, self.hub
        self._accepting = True
        direct = _subjects.direct_subscription(plane, self.host, self.instance)
        self._subs.append(
            await hub.subscribe(direct, self._deliverer(None, self.instance), announce=False)
        )
        every = _subjects.all_replicas_subscription(plane, self.host)
        self._subs.append(await hub.subscribe(every, self._deliverer(None, _subjects.ALL_REPLICAS)))
        for route, served in self._routes.items():
            host, port, method, path = route
            subject = _subjects.subscription_subject(plane, port, host, method, path)
            if served.spec.durable and await self._durable.start(served, subject):
                continue
            deliver = self._deliverer(route, None)
            self._subs.append(await hub.subscribe(subject, deliver, queue=served.queue))
            if served.spec.kind == "endpoint" and served.queue == host:
                hub.add_inline(subject, self)
                self._inline.append(subject)
        await hub.transport.flush()

    def _deliverer(self, route: Route | None, marker: str | None) -> Deliver:
        """The callback of one subscription: it knows which route (or address) it serves."""
        return functools.partial(self._on_message, route, marker)

    async def stop_intake(self) -> None:
        """Stop taking new requests; handlers already running (or waiting) go on."""
        self._accepting = False
        self._durable.stop()
        for subject in self._inline:
            self.hub.remove_inline(subject, self)
        self._inline.clear()
        subs, self._subs = self._subs, []
        for sub in subs:
            await sub.unsubscribe()

    async def aclose(self) -> None:
        """After the handlers ended: release what outlives them (the durable sinks' client)."""
        await self._durable.aclose()

    async def wait_idle(self) -> None:
        await self._durable.drained()  # and no durable sink's pull is still open
        await self._idle.wait()

    # -- the receive path (sync: called by the transport or the hub) ----------------------

    def _on_message(self, route: Route | None, marker: str | None, msg: Message) -> None:
        """One inbound message on the subscription of ``route`` (or of a direct ``marker``).

        Never raises: whatever a peer sends is served, refused or dropped, and counted.
        """
        try:
            frame = decode_shared(msg.data)
        except _frames.FrameError as exc:
            self.guard.count("malformed", f"on {msg.subject}: {exc}")
            return
        try:
            if type(frame) is _frames.Request:
                self._on_request(msg, frame, route, marker)
            elif type(frame) is _frames.Cancel:
                self._on_cancel(frame)
            elif type(frame) is _frames.Fragment:
                self._on_piece(msg, frame, route, marker)
            else:
                self.guard.count("malformed", f"a {frame.__class__.__name__} on {msg.subject}")
        except Exception as exc:
            self.guard.count("internal", f"{exc!r} on {msg.subject}")

    def _on_cancel(self, frame: _frames.Cancel) -> None:
        key = (frame.from_instance, frame.msg_id, frame.token)
        call = self._running.get(key)
        if call is None:
            self.guard.count("unmatched", f"cancel of {frame.msg_id} from {frame.from_instance}")
            return
        call.cancelled = True
        if call.scope is not None:
            call.scope.cancel()

    def _on_request(
        self, msg: Message, frame: _frames.Request, route: Route | None, marker: str | None
    ) -> None:
        reply = None if frame.oneway else msg.reply
        plane = self.hub.plane
        if not _subjects.sent_by(
            msg.subject, msg.reply, plane, frame.from_host, frame.from_instance
        ):
            self._refuse_mismatch(msg, frame, None)  # never answered: the inbox may be another's
            return
        fields = (frame.host, frame.port, frame.method, frame.path)
        if route is None:  # a direct address: the subject's route must be the frame's
            assert marker is not None
            if not _subjects.request_matches(
                msg.subject,
                plane,
                frame.port,
                frame.host,
                frame.method,
                frame.path,
                marker,
                source=frame.from_host,
            ):
                self._refuse_mismatch(msg, frame, reply)
                return
            route, queue = best_route(self._routes, fields) or fields, self._own_queue
            served = self._routes.get(route)
            if served is None:
                message = f"no handler for {frame.method} {frame.host}:{frame.port}{frame.path}"
                self._answer(reply, self._fault(frame, queue, 404, "NotFound", message))
                return
        elif (
            fields != route
            and (route := route_for(self._routes, fields, msg, self.hub, frame.from_host)) is None
        ):
            self._refuse_mismatch(msg, frame, reply)
            return
        else:
            served = self._routes[route]
            queue = served.queue
        if served.callers is not None and not served.callers.admits(frame.from_host):
            self.guard.count("forbidden", f"{frame.from_host} may not call {served.spec.name}")
            message = f"{frame.from_host} may not call {served.spec.name} on {self.host}"
            self._answer(reply, self._fault(frame, queue, 403, "Forbidden", message))
            return
        if not self._accepting:  # shutting down: it will not run, and the caller hears so now
            if reply is None:
                self.guard.count("dropped", f"{served.spec.name}: arrived while shutting down")
            else:
                message = f"{self.host} is shutting down: {served.spec.name} did not run; retry"
                self._answer(reply, self._fault(frame, queue, 503, "Overloaded", message))
            return
        if not 0 <= frame.depth <= self.options.max_depth:
            self.guard.count("malformed", f"call depth {frame.depth} on {msg.subject}")
            message = f"call depth {frame.depth} is outside 0..{self.options.max_depth}"
            self._answer(reply, self._fault(frame, queue, 508, "CallDepthExceeded", message))
            return
        self._take(frame, served, queue, reply, len(msg.data))

    def _refuse_mismatch(self, msg: Message, frame: _frames.Request, reply: str | None) -> None:
        where = f"{frame.method} {frame.host}:{frame.port}{frame.path}"
        self.guard.count("mismatch", f"a request for {where} on {msg.subject}")
        message = f"the request names {where}, which is not the subject it was sent on"
        self._answer(reply, self._fault(frame, self._own_queue, 400, "BadRequest", message))

    def _take(
        self, frame: _frames.Request, served: Served, queue: str, reply: str | None, size: int,
        settle: Settle | None = None,
    ) -> None:  # fmt: skip
        """Run the call now, line it up in its gate's inbox, or refuse it (503 / dropped)."""
        key = (frame.from_instance, frame.msg_id, frame.token)
        if key in self._running:
            self.guard.count("duplicate", f"request {frame.msg_id} from {frame.from_instance}")
            return  # the first copy answers; a replay gets nothing
        if len(frame.body) > self.options.max_body:
            size, limit = len(frame.body), self.options.max_body
            self.guard.count("too_large", f"{served.spec.name}: a body of {size} bytes")
            message = f"the request body of {size} bytes is over {self.host}'s limit of {limit}"
            self._answer(reply, self._fault(frame, queue, 413, "PayloadTooLarge", message))
            return
        gate = served.gate
        if not gate.has_room(reply is None, size):
            if reply is None:
                self.guard.count(
                    "dropped",
                    f"{served.spec.name}: its inbox is full ({gate.waiting_oneway} events, "
                    f"{gate.waiting_bytes} bytes waiting behind {gate.running} running)",
                )
            else:
                self.guard.count("overloaded", f"{served.spec.name}: {gate.running} running")
                message = (
                    f"{served.spec.name} is at its bound of {gate.limit} running and "
                    f"{gate.room} waiting calls; retry later"
                )
                self._answer(reply, self._fault(frame, queue, 503, "Overloaded", message))
            return
        if reply is None:  # fire and forget: its budget starts with its handler
            call = Call(frame, served.spec, gate, queue, None, None, size)
        else:
            now, opts = trio.current_time(), self.options
            deadline = _callstate.handler_deadline(
                now, frame.budget_ms, opts.hop_reserve, opts.max_budget
            )
            call = Call(frame, served.spec, gate, queue, reply, deadline, size)
        call.settle, call.owner = settle, self
        if self._idle.is_set():
            self._idle = trio.Event()
        self._running[key] = call
        if reply is not None:
            ack = _frames.Ack(
                msg_id=frame.msg_id,
                from_host=self.host,
                from_instance=self.instance,
                queue=queue,
                token=frame.token,
            )
            self._acks.owe(key, self._answer, reply, ack, now)
        if gate.running < gate.limit:
            gate.running += 1
            self._pool.submit(call)
        else:
            gate.push(call)

    def _answer(self, reply: str | None, frame: _frames.Frame) -> None:
        if reply is None:
            return
        large = self._publish_whole(reply, frame)
        if large is not None:  # past max_payload: every piece now, back to back
            frame, data = large
            try:
                for piece in _pieces.split(data, self.hub.transport.max_payload, frame, self.host):
                    self.hub.publish_reply(reply, piece, self.host)
            except Exception as exc:
                log.warning("%s: could not send a reply in pieces: %r", self.host, exc)

    def _publish_whole(
        self, reply: str, frame: _frames.Frame
    ) -> tuple[_frames.Frame, bytes] | None:
        """Publish ``frame`` in one message (a Response over ``max_body`` becomes a 413);
        (the frame, its bytes) when it is past ``max_payload`` and needs pieces."""
        if type(frame) is _frames.Response and len(frame.body) > self.options.max_body:
            frame = self._too_large_reply(frame)
        data = _frames.encode(frame)
        try:
            self.hub.publish_reply(reply, data, self.host)
        except _TransportTooLarge:
            return frame, data
        except Exception as exc:
            log.warning("%s: could not reply: %r", self.host, exc)
        return None

    def _too_large_reply(self, frame: _frames.Response) -> _frames.Fault:
        size, limit = len(frame.body), self.options.max_body
        message = f"the reply of {size} bytes is over {self.host}'s limit of {limit} bytes"
        return self._runner.to_fault(frame, _errors.PayloadTooLarge(message, size, limit))

    # -- running handlers --------------------------------------------------------------------

    async def handle(self, call: Call, scope: trio.CancelScope) -> None:
        """Run one call in a worker (under its ``scope``), then answer on the bus (unless the
        caller cancelled)."""
        current_request.set(call.frame)
        current_actor.set(self._log_tag)
        try:
            out = await self._runner.run(call, scope)
        except BaseException as exc:
            ours = isinstance(exc, trio.Cancelled) and scope.cancel_called
            if ours:  # cut short by its own scope: its outcome says how; the worker goes on
                out = call.outcome
                if out is not None:
                    self._answer(call.reply, out)
            elif isinstance(exc, trio.Cancelled) and not call.cancelled:  # this worker ends
                self._answer(call.reply, self._runner.shutdown_fault(call))  # say so
            self._done(call, started=True, by_worker=ours, out=out if ours else None)
            raise
        reply = call.reply
        if (
            reply is None
            or type(out) is not _frames.Response
            or len(out.body) <= self.hub.transport.max_payload - _pieces.FRAME_SLACK
        ):  # the usual case: a reply in one message (or none)
            self._done(call, started=True, by_worker=True, out=out)
            if out is not None:
                self._answer(reply, out)
            return
        large = self._publish_whole(reply, out)
        if large is None:  # it fitted after all
            self._done(call, started=True, by_worker=True, out=out)
            return
        # Past max_payload: the call is done only once its reply is all buffered, so that a
        # shutdown waits for it; the owed ack is settled first (the reply is on its way).
        self._acks.settle(self.instance, call.key)
        scope.deadline = math.inf  # the handler's budget is spent on the handler, not the send
        sent = False
        try:
            await reply_in_pieces(self.hub, self.host, reply, *large)
            sent = True
        finally:
            self._done(call, started=True, by_worker=sent, out=out if sent else None)

    def _done(
        self, call: Call, *, started: bool, by_worker: bool = False, out: Outcome = None
    ) -> None:
        """Forget ``call`` (never raises, whatever a peer did) and let the next one in; a
        durable sink's event is settled with ``out`` (None: not handled, redeliver)."""
        key = call.key
        call.scope = None  # a worker's scope, lent: nothing may cancel it for this call now
        call.finish(out)
        self._acks.settle(self.instance, key)
        if self._running.get(key) is call:
            del self._running[key]
        if started:
            gate = call.gate
            gate.running -= 1
            while gate.waiting and gate.running < gate.limit and not self._runner.stopping:
                gate.running += 1
                self._pool.submit(gate.pop(), by_worker=by_worker)
                by_worker = False  # that worker takes one; more need others
        if not self._running:
            self._idle.set()

    def failed(self, call: Call, exc: Exception) -> None:
        """Serving ``call`` raised (a bug of ours, never the handler's, which its runner
        catches): the call is forgotten and the actor fails with ``exc``, as its own task
        would have; the hub's workers and the other actors go on."""
        if self._running.get(call.key) is call:
            self._done(call, started=True)

        async def fail() -> None:
            raise exc

        self._nursery.start_soon(fail)

    async def end_calls(self) -> None:
        """Refuse the calls still waiting, cancel those running, and wait until all are gone
        (shielded: they run in the hub's tasks, which this actor's cancellation does not
        reach)."""
        self._accepting = False  # from here on a request is answered 503 at once
        self.cancel_running()
        with trio.CancelScope(shield=True):
            await self._idle.wait()

    def cancel_running(self) -> None:
        """Grace period over: refuse the calls still waiting, cancel those running."""
        self._runner.stopping = True
        for gate in self._gates.values():
            while gate.waiting:
                call = gate.pop()
                if call.reply is None and not call.cancelled:
                    self.guard.count("dropped", f"{call.spec.name}: shut down before it ran")
                elif not call.cancelled:
                    self._answer(call.reply, self._runner.shutdown_fault(call))
                self._done(call, started=False)
        for call in list(self._running.values()):
            if call.scope is not None:
                call.scope.cancel()
