"""The ``actorbus`` command: run, call, ping, trace, tracer, acl. Thin: parse, call modules.

Exit codes of ``call`` and ``ping``: 0 ok; 1 the remote handler failed (status on stderr);
2 bad usage; 3 no responder; 4 timed out (or not acknowledged: AckTimeout); 5 cannot reach the
bus, or it failed (a BusError, such as a connection lost with the outcome unknown).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import trio

from .._excgroups import leaf
from .._version import __version__
from .acl import add_acl_parser, credentials_option, load_credentials_option
from .acl import main as _cmd_acl
from .client import build_body, cmd_call, cmd_describe, cmd_ping, parse_target, parse_value
from .common import (
    DEFAULT_NATS,
    EXIT_BUS,
    EXIT_INTERRUPTED,
    EXIT_NO_RESPONDER,
    EXIT_REMOTE,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CliError,
    bus_url,
    debug_enabled,
    describe_exception,
    error,
    print_traceback,
    probe_bus,
    valid_plane,
)
from .dlq import add_dlq_parser, cmd_dlq
from .graph import add_graph_parser, cmd_graph
from .http import add_http_options, add_ingress_parser, cmd_ingress
from .run import DEFAULT_TRACE, cmd_run
from .stubs import add_stubs_parser, cmd_stubs

__all__ = ["build_body", "main", "parse_target", "parse_value"]

log = logging.getLogger("actorbus.cli")

_error = error


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (``actorbus: call: argument --timeout: ...``)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("actorbus").strip()
        raise CliError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 1..65535, got {text!r}")
    return int(text)


def _bus_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nats", metavar="URL", help=f"NATS URL (default: $NATS_URL, else {DEFAULT_NATS})"
    )
    p.add_argument("--plane", help="plane (default: $ACTORBUS_PLANE, else 'actorbus')")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="give up after this long")
    credentials_option(p)


def _history_option(p: argparse.ArgumentParser) -> None:
    from .._tracer.history import DEFAULT_HISTORY, MAX_HISTORY

    def count(text: str) -> int:
        if not text.isdigit() or int(text) > MAX_HISTORY:
            raise argparse.ArgumentTypeError(f"expected 0..{MAX_HISTORY} spans, got {text!r}")
        return int(text)

    p.add_argument(
        "--trace-history", type=count, default=DEFAULT_HISTORY, metavar="N",
        help=f"spans the tracer remembers for pages that open later ({DEFAULT_HISTORY}; 0: none)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="actorbus",
        description="Actors as classes on Trio, talking over NATS.",
        epilog="--debug (or ACTORBUS_DEBUG=1) shows the traceback of an error.",
    )
    parser.add_argument("--version", action="version", version=f"actorbus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run actors under a supervisor")
    run.add_argument(
        "targets", nargs="+", metavar="TARGET",
        help="MODULE, MODULE:Class[,Class], path/to/file.py[:Class] or a folder",
    )  # fmt: skip
    run.add_argument("--nats", metavar="URL", help="NATS URL (default: $NATS_URL, else embedded)")
    run.add_argument("--replicas", type=_positive_int, default=1, help="instances of each actor")
    run.add_argument(
        "--workers", type=_positive_int, default=None,
        help="worker processes, each running every actor (default: none, run in this process)",
    )  # fmt: skip
    run.add_argument("--grace", type=_seconds, default=8.0, help="shutdown grace period (8 s)")
    run.add_argument("--plane", help="plane (default: $ACTORBUS_PLANE, else 'actorbus')")
    run.add_argument("--config", metavar="FILE", help="TOML (or YAML) file, a table per hostname")
    run.add_argument("--log-format", choices=("text", "json"), default="text")
    run.add_argument("--log-level", default="INFO", type=str.upper)
    run.add_argument(
        "--trace-ws", metavar="HOST:PORT",
        help=f"serve the live tracer (default {DEFAULT_TRACE} on the embedded server; 'off')",
    )  # fmt: skip
    _history_option(run)
    run.add_argument(
        "--metrics", metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (workers: PORT, PORT+1, ...)",
    )  # fmt: skip
    run.add_argument(
        "--health", metavar="HOST:PORT",
        help="serve GET /healthz (alive) and /readyz (connected, actors started, not draining)",
    )  # fmt: skip
    run.add_argument(
        "--otel", action="store_true",
        help="export spans through the OpenTelemetry SDK, set up by the OTEL_* variables "
        "(needs actorbus[otel]; also ACTORBUS_OTEL=1)",
    )  # fmt: skip
    credentials_option(run)
    run.add_argument(
        "--reload", action="store_true",
        help="restart the actor processes when a target's file changes (needs actorbus[reload])",
    )  # fmt: skip
    run.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    add_http_options(run)
    run.add_argument("--worker", help=argparse.SUPPRESS)

    call = sub.add_parser("call", help="send one request and print the reply as JSON")
    call.add_argument("target", metavar="HOST/PATH", help="e.g. users.example/delete-user")
    call.add_argument("args", nargs="*", metavar="key=value", help="arguments (JSON or text)")
    call.add_argument(
        "--method", type=str.upper, help="HTTP-like method (default: the path's, else POST)"
    )
    call.add_argument("--port", type=_port, help="port (default: the path's, else 443)")
    call.add_argument("--json", dest="body", metavar="BODY", help="arguments as one JSON object")
    call.add_argument(
        "--multicast", action="store_true",
        help="fire an event to every sink (port 417), or call every replica; a JSON line each",
    )  # fmt: skip
    _bus_options(call)

    describe = sub.add_parser("describe", help="list each actor's endpoints and their schemas")
    describe.add_argument("host", nargs="?", default="all", help="a hostname (default: all)")
    describe.add_argument("--json", action="store_true", help="print the JSON descriptions")
    _bus_options(describe)

    ping = sub.add_parser("ping", help="list the running actors")
    ping.add_argument("host", nargs="?", default="all", help="a hostname (default: all)")
    ping.add_argument("--json", action="store_true", help="print a JSON list")
    _bus_options(ping)

    trace = sub.add_parser("trace", help="watch calls live (attaches to the tracer's websocket)")
    trace.add_argument(
        "url", nargs="?",
        help=f"default: the tracer of the running 'actorbus run', else ws://{DEFAULT_TRACE}",
    )  # fmt: skip
    trace.add_argument("--json", action="store_true", help="raw spans, one JSON object a line")
    trace.add_argument(
        "--all", action="store_true", help="also show control calls and ticker beats (folded)"
    )
    credentials_option(trace, "accepted for symmetry: the tracer's websocket needs none")

    tracer = sub.add_parser("tracer", help="serve the live tracer's websocket for a bus")
    tracer.add_argument(
        "--nats", metavar="URL", help=f"NATS URL (default: $NATS_URL, else {DEFAULT_NATS})"
    )
    tracer.add_argument("--listen", default=DEFAULT_TRACE, metavar="HOST:PORT")
    tracer.add_argument("--plane", help="plane (default: $ACTORBUS_PLANE, else 'actorbus')")
    _history_option(tracer)
    credentials_option(tracer)
    add_acl_parser(sub)
    add_dlq_parser(sub, _bus_options)
    add_stubs_parser(sub, _bus_options)
    add_graph_parser(sub, _bus_options)
    add_ingress_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``actorbus`` script and of ``python -m actorbus``.

    Every failure is one ``actorbus: ...`` line on stderr and an exit code (see `common`);
    ``--debug`` anywhere on the line (or ``ACTORBUS_DEBUG=1``) adds the traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_enabled("--debug" in argv)
    argv = [a for a in argv if a != "--debug"]
    try:
        args = _parse(argv)
        handlers = {"run": cmd_run, "call": cmd_call, "ping": cmd_ping}
        handlers |= {"trace": _cmd_trace, "tracer": _cmd_tracer, "describe": cmd_describe}
        handlers |= {"acl": _cmd_acl, "stubs": cmd_stubs, "graph": cmd_graph}
        handlers |= {"ingress": cmd_ingress, "dlq": cmd_dlq}
        return handlers[args.command](args)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except BaseException as exc:
        if debug:
            print_traceback(exc)
            _print_remote_traceback(exc)
        message, code = _explain(exc)
        _error(message)
        return code


def _print_remote_traceback(exc: BaseException) -> None:
    """With ``--debug``, a handler's failure also shows where the handler failed."""
    from .._runtime.errors import RemoteError

    cause = leaf(exc)
    if isinstance(cause, RemoteError) and cause.remote_traceback:
        print(f"remote traceback ({cause.host}):", file=sys.stderr)
        print(cause.remote_traceback.rstrip(), file=sys.stderr, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse; ``key=value`` pairs of ``call`` may also come after its options."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "call":
        pairs = [a for a in extra if not a.startswith("-") and "=" in a]
        args.args = [*args.args, *pairs]
        extra = [a for a in extra if a not in pairs]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _explain(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for an exception that reached the top."""
    from .._runtime.errors import AckTimeout, BusError, Error, NoResponder, RemoteError
    from .._transport.base import TransportError

    cause = leaf(exc)
    if isinstance(cause, BaseExceptionGroup):
        real = [e for e in cause.exceptions if not isinstance(e, trio.Cancelled)]
        cause = leaf(real[0]) if real else cause
    if isinstance(cause, CliError):
        return cause.message, cause.code
    if isinstance(cause, NoResponder):
        return f"404 no responder: {cause}", EXIT_NO_RESPONDER
    if isinstance(cause, AckTimeout):
        return f"504 AckTimeout: {cause.message}", EXIT_TIMEOUT
    if isinstance(cause, RemoteError):
        return f"{cause.status} {cause.remote_type}: {cause.message}", EXIT_REMOTE
    if isinstance(cause, trio.TooSlowError):
        return f"timed out{': ' + str(cause) if str(cause) else ''}", EXIT_TIMEOUT
    if isinstance(cause, BusError):
        return cause.message, EXIT_BUS
    if isinstance(cause, Error):
        return f"{cause.status} {type(cause).__name__}: {cause.message}", EXIT_REMOTE
    if isinstance(cause, TransportError | OSError):
        text = str(cause) or type(cause).__name__
        return (text if "NATS" in text else f"cannot reach the bus: {text}"), EXIT_BUS
    if isinstance(cause, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(cause, ValueError):  # a bad hostname, plane or path from the command line
        return str(cause), EXIT_USAGE
    return f"unexpected error: {describe_exception(cause)} (--debug shows where)", EXIT_REMOTE


# -- trace / tracer --------------------------------------------------------------------------


def _tracer_module() -> Any:
    try:
        return importlib.import_module("actorbus._tracer.server")
    except ImportError as exc:
        _error(f"the live tracer is not available in this installation ({exc})")
        return None


def _cmd_trace(args: argparse.Namespace) -> int:
    module = _tracer_module()
    if module is None:
        return EXIT_USAGE
    if args.url is None:
        from . import state

        found = state.read()
        listen = found.get("trace_ws") if found else None
        args.url = f"ws://{listen or DEFAULT_TRACE}"
    if not args.url.startswith(("ws://", "wss://")):
        raise CliError(f"{args.url!r} is not a websocket URL: expected ws://HOST:PORT")
    from .._tracer.terminal import TracerGone

    try:
        trio.run(lambda: module.run_trace_client(args.url, json_lines=args.json, show_all=args.all))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        cause = leaf(exc)
        if isinstance(cause, TracerGone):  # attached, then the tracer went away
            raise CliError(str(cause), EXIT_BUS) from exc
        if isinstance(cause, OSError):  # ConnectionError included
            reason = f"no live tracer answers at {args.url}"
        else:
            reason = f"cannot attach to the tracer at {args.url}: {describe_exception(cause)}"
        raise CliError(
            f"{reason} (is `actorbus run` or `actorbus tracer` running?)", EXIT_BUS
        ) from exc
    return 0


def _cmd_tracer(args: argparse.Namespace) -> int:
    from .._runtime.logs import setup_logging

    module = _tracer_module()
    if module is None:
        return EXIT_USAGE
    from .._app import default_plane

    url = bus_url(args.nats)
    plane = valid_plane(args.plane or default_plane())
    credentials = load_credentials_option(args)
    setup_logging()

    async def serve() -> None:
        await probe_bus(url)
        await module.serve_tracer(
            url, args.listen, plane=plane, credentials=credentials, history=args.trace_history
        )

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        cause = leaf(exc)
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise CliError(f"--listen {args.listen}: {cause.strerror}") from exc
        raise
    return 0
