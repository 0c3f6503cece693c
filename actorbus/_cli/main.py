"""The ``actorbus`` command: run, call, ping, trace, tracer. Thin: parse, then call the modules.

Exit codes of ``call`` and ``ping``: 0 ok; 1 the remote handler failed (status on stderr);
2 bad usage; 3 no responder; 4 timed out (or not acknowledged: AckTimeout); 5 cannot reach the
bus, or it failed (a BusError, such as a connection lost with the outcome unknown).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
import trio

from .._groups import leaf
from .._version import __version__

__all__ = ["main"]

log = logging.getLogger("actorbus.cli")

DEFAULT_NATS = "nats://127.0.0.1:4222"
DEFAULT_TRACE = "127.0.0.1:4280"
EXIT_REMOTE, EXIT_USAGE, EXIT_NO_RESPONDER, EXIT_TIMEOUT, EXIT_BUS = 1, 2, 3, 4, 5


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _bus_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nats", metavar="URL", help=f"NATS URL (default: $NATS_URL, else {DEFAULT_NATS})"
    )
    p.add_argument("--plane", help="plane (default: $ACTORBUS_PLANE, else 'actorbus')")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="give up after this long")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actorbus", description="Actors as classes on Trio, talking over NATS."
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
    run.add_argument("--worker", help=argparse.SUPPRESS)

    call = sub.add_parser("call", help="send one request and print the reply as JSON")
    call.add_argument("target", metavar="HOST/PATH", help="e.g. users.example/delete-user")
    call.add_argument("args", nargs="*", metavar="key=value", help="arguments (JSON or text)")
    call.add_argument("--method", default="POST", type=str.upper, help="HTTP-like method (POST)")
    call.add_argument("--port", type=int, default=443, help="port (443)")
    call.add_argument("--json", dest="body", metavar="BODY", help="arguments as one JSON object")
    _bus_options(call)

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

    tracer = sub.add_parser("tracer", help="serve the live tracer's websocket for a bus")
    tracer.add_argument(
        "--nats", metavar="URL", help=f"NATS URL (default: $NATS_URL, else {DEFAULT_NATS})"
    )
    tracer.add_argument("--listen", default=DEFAULT_TRACE, metavar="HOST:PORT")
    tracer.add_argument("--plane", help="plane (default: $ACTORBUS_PLANE, else 'actorbus')")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``actorbus`` script and of ``python -m actorbus``."""
    args = build_parser().parse_args(argv)
    handlers = {"run": _cmd_run, "call": _cmd_call, "ping": _cmd_ping}
    handlers |= {"trace": _cmd_trace, "tracer": _cmd_tracer}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130


def _error(message: str) -> None:
    print(f"actorbus: {message}", file=sys.stderr, flush=True)


def _bus_url(args: argparse.Namespace) -> str:
    """--nats, else $NATS_URL, else the bus of the running ``actorbus run``, else 4222."""
    if args.nats or os.environ.get("NATS_URL"):
        return str(args.nats or os.environ.get("NATS_URL"))
    from . import state

    found = state.read()
    return str(found["nats"]) if found else DEFAULT_NATS


def _plane(args: argparse.Namespace) -> str | None:
    """--plane, else $ACTORBUS_PLANE, else the plane of the ``actorbus run`` found by `_bus_url`."""
    if args.plane or os.environ.get("ACTORBUS_PLANE") or args.nats or os.environ.get("NATS_URL"):
        return str(args.plane) if args.plane else None
    from . import state

    found = state.read()
    return str(found["plane"]) if found and found.get("plane") else None


# -- run -----------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from .._app import default_plane
    from .._runtime import config as _config
    from .._runtime.logs import PROCESS_TAG_ENV, setup_logging
    from . import supervisor as _supervisor

    if args.worker:
        os.environ[PROCESS_TAG_ENV] = args.worker
    try:
        setup_logging(args.log_format, args.log_level)
    except ValueError as exc:
        _error(f"--log-level: {exc}")
        return EXIT_USAGE
    if args.config:
        os.environ[_config.CONFIG_FILE_ENV] = os.path.abspath(args.config)
    try:
        classes = _supervisor.load_targets(args.targets)
        for cls in classes:
            _config.resolve(cls)
    except (_supervisor.TargetError, _config.ConfigError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except Exception:
        _error("importing the actors failed:\n" + traceback.format_exc())
        return EXIT_USAGE
    plane = args.plane or default_plane()
    opts = _supervisor.RunOptions(
        targets=list(args.targets),
        nats=args.nats,
        replicas=args.replicas,
        workers=args.workers,
        grace=args.grace,
        plane=plane,
        trace_ws=None if args.trace_ws == "off" else args.trace_ws,
        worker=args.worker,
    )
    server: Any = None
    bus: str = opts.nats or os.environ.get("NATS_URL") or ""
    if not bus:
        if opts.worker:
            _error("a worker needs --nats")
            return EXIT_USAGE
        try:
            server, default_port = _supervisor.start_embedded()
        except Exception as exc:
            _error(f"cannot start the embedded nats-server: {exc}")
            return EXIT_BUS
        bus = server.url
        if args.trace_ws is None:
            opts.trace_ws = DEFAULT_TRACE
        from . import state

        where = state.write(bus, plane, opts.trace_ws)
        if default_port:
            log.info("embedded nats-server on %s", bus)
        else:
            log.warning(
                "port %d is taken by another process: embedded nats-server on %s instead "
                "(actorbus call/ping/trace find it through %s; or NATS_URL=%s)",
                _supervisor.DEFAULT_PORT, bus, where, bus,
            )  # fmt: skip
    try:
        return trio.run(_run_async, opts, classes, args, bus)
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.stop()
            from . import state

            state.clear()


async def _run_async(opts: Any, classes: Any, args: argparse.Namespace, bus: str) -> int:
    from .._runtime.errors import BusError
    from .._transport.base import TransportError
    from . import supervisor as _supervisor

    worker_argv = [
        sys.executable, "-m", "actorbus", "run", *opts.targets,
        "--nats", bus, "--replicas", str(opts.replicas), "--grace", str(opts.grace),
        "--plane", opts.plane, "--log-format", args.log_format, "--log-level", args.log_level,
        "--trace-ws", "off",
    ]  # fmt: skip
    extra = []
    if opts.trace_ws and not opts.worker:
        extra.append(_tracer_task(bus, opts.trace_ws, opts.plane))
    try:
        return await _supervisor.run(opts, classes, bus, worker_argv, extra)
    except BaseException as exc:
        cause = leaf(exc)
        if isinstance(cause, TransportError | OSError | BusError):
            _error(f"bus {bus}: {cause}")
            return EXIT_BUS
        raise


def _tracer_task(bus: str, listen: str, plane: str) -> Callable[[], Awaitable[None]]:
    """The live tracer beside ``actorbus run``: an add-on, never fatal."""

    async def tracer() -> None:
        try:
            serve_tracer = importlib.import_module("actorbus._tracer.server").serve_tracer
        except ImportError as exc:
            log.info("live tracer not available (%s)", exc)
            return
        try:
            log.info("live tracer on ws://%s (actorbus trace ws://%s)", listen, listen)
            await serve_tracer(bus, listen, plane=plane)
        except Exception as exc:
            log.warning("the live tracer on %s stopped: %r", listen, exc)

    return tracer


# -- call ----------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """JSON when it parses (``5``, ``true``, ``[1,2]``, ``"x"``), else the text itself."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def build_body(body: str | None, pairs: Sequence[str]) -> dict[str, Any]:
    """``--json`` object, then ``key=value`` pairs on top of it. Raises ValueError."""
    args: dict[str, Any] = {}
    if body:
        try:
            parsed = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise ValueError(f"--json: not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("--json: must be a JSON object of arguments")
        args.update(parsed)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"argument {pair!r}: expected key=value")
        args[key] = parse_value(value)
    return args


def parse_target(target: str, port: int) -> tuple[str, int, str]:
    """``host[:port]/path`` → (host, port, /path). Raises ValueError."""
    for scheme in ("https://", "http://"):
        target = target.removeprefix(scheme)
    host, sep, path = target.partition("/")
    if ":" in host:
        host, _, port_text = host.partition(":")
        port = int(port_text)
    if not host or not sep:
        raise ValueError(f"{target!r}: expected HOST/PATH, e.g. users.example/delete-user")
    return host, port, "/" + path


def _timeout(seconds: float | None) -> contextlib.AbstractContextManager[Any]:
    return trio.fail_after(seconds) if seconds is not None else contextlib.nullcontext()


def _cmd_call(args: argparse.Namespace) -> int:
    try:
        host, port, path = parse_target(args.target, args.port)
        body = build_body(args.body, args.args)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    return _run_client(_call, args, host, port, path, body)


async def _call(
    app: Any, args: argparse.Namespace, host: str, port: int, path: str, body: Any
) -> int:
    from .._wire.frames import encode_body

    with _timeout(args.timeout):
        value = await app.caller.call(
            host, port, args.method, path, encode_body(body), msgspec.msgpack.decode
        )
    _print_json(value)
    return 0


def _print_json(value: Any) -> None:
    data = msgspec.json.encode(value)
    if sys.stdout.isatty():
        data = msgspec.json.format(data, indent=2)
    print(data.decode(), flush=True)


def _run_client(fn: Any, args: argparse.Namespace, *rest: Any) -> int:
    """Open an App (no actors) on the bus, run ``fn``, map errors to exit codes."""
    from .._app import App
    from .._runtime.errors import AckTimeout, BusError, Error, NoResponder, RemoteError
    from .._transport.base import TransportError

    async def inner() -> int:
        async with App(bus=_bus_url(args), plane=_plane(args), hostname="cli.actorbus") as app:
            result: int = await fn(app, args, *rest)
            return result

    try:
        try:
            return trio.run(inner)
        except BaseExceptionGroup as group:
            raise leaf(group) from None
    except NoResponder as exc:
        _error(f"404 no responder: {exc}")
        return EXIT_NO_RESPONDER
    except RemoteError as exc:
        _error(f"{exc.status} {exc.remote_type}: {exc.message}")
        return EXIT_REMOTE
    except trio.TooSlowError as exc:
        _error(f"timed out{': ' + str(exc) if str(exc) else ''}")
        return EXIT_TIMEOUT
    except AckTimeout as exc:
        _error(f"504 AckTimeout: {exc.message}")
        return EXIT_TIMEOUT
    except BusError as exc:
        _error(f"bus {_bus_url(args)}: {exc.message}")
        return EXIT_BUS
    except Error as exc:
        _error(f"{exc.status} {type(exc).__name__}: {exc.message}")
        return EXIT_REMOTE
    except (TransportError, OSError) as exc:
        _error(f"cannot reach the bus at {_bus_url(args)}: {exc}")
        return EXIT_BUS


# -- ping ----------------------------------------------------------------------------------


def _cmd_ping(args: argparse.Namespace) -> int:
    return _run_client(_ping, args)


async def _ping(app: Any, args: argparse.Namespace) -> int:
    from .._wire.frames import EMPTY_BODY
    from .._wire.subjects import CONTROL_PORT

    found: list[dict[str, Any]] = []
    with _timeout(args.timeout) if args.timeout is not None else contextlib.nullcontext():
        gathering = app.caller.multicast(
            args.host, CONTROL_PORT, "GET", "/ping", EMPTY_BODY, msgspec.msgpack.decode
        )
        async for reply in gathering:
            if reply.ok and isinstance(reply.value, dict):
                found.append(reply.value)
            elif not reply.ok:
                print(f"{reply.host}/{reply.instance}: {reply.error}", file=sys.stderr)
    found.sort(key=lambda info: (str(info.get("host")), -float(info.get("uptime", 0))))
    if args.json:
        _print_json(found)
    else:
        _print_table(found)
    if not found:
        _error(f"no actor answered on {args.host!r} (plane {app.plane}, bus {_bus_url(args)})")
        return EXIT_NO_RESPONDER
    return 0


def _uptime(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _print_table(found: Sequence[dict[str, Any]]) -> None:
    by_host: dict[str, list[dict[str, Any]]] = {}
    for info in found:
        by_host.setdefault(str(info.get("host", "?")), []).append(info)
    for host, infos in by_host.items():
        print(f"{host}  ({len(infos)} running)")
        for info in infos:
            print(
                f"  {info.get('instance', '?'):<12} v{info.get('version', '?'):<8} "
                f"up {_uptime(float(info.get('uptime', 0))):<9} pid {info.get('pid', '?'):<8} "
                f"{info.get('bus', '')}"
            )
    sys.stdout.flush()


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
    try:
        trio.run(lambda: module.run_trace_client(args.url, json_lines=args.json))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        _error(f"cannot attach to {args.url}: {exc}")
        return EXIT_BUS
    return 0


def _cmd_tracer(args: argparse.Namespace) -> int:
    from .._runtime.logs import setup_logging

    module = _tracer_module()
    if module is None:
        return EXIT_USAGE
    from .._app import default_plane

    setup_logging()
    plane = args.plane or default_plane()
    try:
        trio.run(lambda: module.serve_tracer(_bus_url(args), args.listen, plane=plane))
    except KeyboardInterrupt:
        return 0
    return 0
