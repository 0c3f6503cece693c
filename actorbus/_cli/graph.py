"""``actorbus graph``: who depends on whom, from a target's declarations and from the bus.

Declarations: each ``@sink(Source.event)`` is an event edge source → sink, and each
``client(Other)`` in an actor's methods (found in their source, the class looked up in the
method's module) a call edge. The bus: for ``--seconds N`` the command listens as a tracer
does, and every call and event span adds its edge.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import trio

from .common import CliError, import_failure
from .depgraph import DepGraph

__all__ = ["add_graph_parser", "cmd_graph", "declared_graph", "observe"]

#: With no TARGET, how long to watch the bus.
DEFAULT_SECONDS = 5.0


def add_graph_parser(sub: Any, bus_options: Callable[[argparse.ArgumentParser], None]) -> None:
    graph = sub.add_parser("graph", help="the dependency graph between hosts; names call cycles")
    graph.add_argument(
        "targets", nargs="*", metavar="TARGET", help="actors whose declarations to read (as run)"
    )
    graph.add_argument(
        "--seconds", type=float, metavar="N",
        help=f"also watch the bus for N seconds (default without TARGET: {DEFAULT_SECONDS:g})",
    )  # fmt: skip
    graph.add_argument("--dot", action="store_true", help="print Graphviz DOT instead of text")
    bus_options(graph)


def cmd_graph(args: argparse.Namespace) -> int:
    from .supervisor import TargetError, load_targets

    if args.seconds is not None and not 0 < args.seconds < 24 * 3600:
        raise CliError(f"graph: --seconds must be a number of seconds > 0, got {args.seconds:g}")
    graph = DepGraph()
    if args.targets:
        try:
            classes = load_targets(args.targets)
        except TargetError as exc:
            raise CliError(str(exc)) from exc
        except Exception as exc:
            raise CliError(import_failure(exc)) from exc
        declared_graph(classes, graph)
    seconds = args.seconds if args.seconds is not None or args.targets else DEFAULT_SECONDS
    if seconds:
        from .client import run_client

        async def watch(app: Any, args: argparse.Namespace) -> int:
            await observe(app.transport, app.plane, seconds, graph)
            return 0

        run_client(watch, args)
    print(graph.to_dot() if args.dot else graph.to_text(), flush=True)
    return 0


# -- from the declarations -----------------------------------------------------------------


def declared_graph(classes: list[type[Any]], graph: DepGraph) -> DepGraph:
    """Event edges from the sinks of ``classes``, call edges from their ``client(X)`` calls."""
    for cls in classes:
        host = cls.host()
        graph.add_host(host)
        for spec in cls._handlers:
            if spec.kind == "sink" and spec.source is not None:
                graph.add(spec.source.host, host, "event", _where(spec.source.spec), "declared")
        for func in _methods(cls):
            for target, name in _client_calls(func, graph, cls):
                graph.add(host, target, "call", name, "declared")
    return graph


def _methods(cls: type[Any]) -> Iterator[Callable[..., Any]]:
    """The functions defined by the user's classes of ``cls`` (not by actorbus)."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("actorbus.") or klass is object:
            continue
        for value in vars(klass).values():
            func = getattr(value, "__func__", value)
            if inspect.isfunction(func):
                yield func


def _client_calls(
    func: Callable[..., Any], graph: DepGraph, cls: type[Any]
) -> Iterator[tuple[str, str]]:
    """(callee host, endpoint or "") for each ``*.client(X)`` in ``func``'s source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return
    names: dict[int, str] = {}
    for node in ast.walk(tree):  # ``self.client(X).name(...)``: remember which endpoint
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
            names.setdefault(id(node.value), node.attr)
        if (  # ``self.client(X).multicast.name(...)``
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "multicast"
            and isinstance(node.value.value, ast.Call)
        ):
            names[id(node.value.value)] = node.attr
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "client"
            and node.args
        ):
            continue
        target = _resolve(node.args[0], func)
        host = getattr(target, "host", None)
        if not (isinstance(target, type) and callable(host)):
            graph.notes.append(
                f"{cls.__qualname__}.{func.__name__}: client({ast.unparse(node.args[0])}) "
                "names no class this command can find"
            )
            continue
        spec = getattr(target, "_endpoints", {}).get(names.get(id(node), ""))
        yield host(), _where(spec) if spec is not None else ""


def _where(spec: Any) -> str:
    """How an edge is labelled, the same whether declared or observed: the path, and the port
    when it is not the usual one."""
    usual = 417 if spec.kind == "event" else 443
    return spec.path if spec.port == usual else f":{spec.port}{spec.path}"


def _resolve(expr: ast.expr, func: Callable[..., Any]) -> Any:
    if isinstance(expr, ast.Name):
        closure = inspect.getclosurevars(func).nonlocals
        if expr.id in closure:
            return closure[expr.id]
        return func.__globals__.get(expr.id, getattr(builtins, expr.id, None))
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, func)
        return getattr(base, expr.attr, None) if base is not None else None
    return None


# -- from the bus ------------------------------------------------------------------------


async def observe(transport: Any, plane: str, seconds: float, graph: DepGraph) -> DepGraph:
    """Listen to the spans on ``plane`` for ``seconds`` (announcing a tracer, as the live
    tracer does, so that the actors publish them) and add an edge for each call and event."""
    import secrets

    from .._observe import spans as _trace

    ident, ttl = secrets.token_hex(6), 6.0

    def on_spans(msg: Any) -> None:
        try:
            batch = _trace.decode_spans(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        for span in batch:
            src, dst = span.from_host, span.to_host
            if not (src and dst) or span.kind in ("ticker", "control"):
                continue
            usual = 443 if span.kind == "call" else 417
            label = span.path if span.port == usual else f":{span.port}{span.path}"
            if span.kind == "call":
                graph.add(src, dst, "call", label, "observed")
            elif src != dst:  # a sink's reply or handler; a fired event names its own host
                graph.add(src, dst, "event", label, "observed")

    ctl = _trace.control_subject(plane)

    def on_ctl(msg: Any) -> None:  # a hub that joins asks who listens
        if msg.data == _trace.encode_ctl(_trace.TraceCtl("query")):
            transport.publish(ctl, _trace.encode_ctl(_trace.TraceCtl("on", ident, ttl)))

    subs = [
        await transport.subscribe(_trace.span_wildcard(plane), on_spans),
        await transport.subscribe(ctl, on_ctl),
    ]
    try:
        await transport.flush()
        with trio.move_on_after(seconds):
            while True:
                transport.publish(ctl, _trace.encode_ctl(_trace.TraceCtl("on", ident, ttl)))
                await trio.sleep(ttl / 3)
    finally:
        with trio.CancelScope(shield=True):
            transport.publish(ctl, _trace.encode_ctl(_trace.TraceCtl("off", ident)))
            with trio.move_on_after(1):
                await transport.flush()  # the last batches published before "off" are in
            for sub in subs:
                await sub.unsubscribe()
    return graph
