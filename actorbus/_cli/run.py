"""``actorbus run``: check the targets and options, pick or start the bus, then hand over to
the supervisor (with the live tracer, and the health and metrics servers, beside it)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._transport.kv import NO_JETSTREAM_LEASES
from .._version import install_hint
from .acl import load_credentials_option
from .common import (
    EXIT_BUS,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    check_nats_url,
    error,
    import_failure,
    probe_bus,
    probe_jetstream,
    valid_plane,
)
from .http import http_settings, ingress_task
from .process import start_embedded

__all__ = ["DEFAULT_TRACE", "cmd_run"]

log = logging.getLogger("actorbus.cli")

DEFAULT_TRACE = "127.0.0.1:4280"
_error = error


# -- run -----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from .._app import default_plane
    from .._observe.logs import PROCESS_TAG_ENV, setup_logging
    from .._runtime import config as _config
    from . import supervisor as _supervisor

    if args.worker:
        os.environ[PROCESS_TAG_ENV] = args.worker
    try:
        setup_logging(args.log_format, args.log_level)
    except ValueError as exc:
        _error(f"--log-level: {exc}")
        return EXIT_USAGE
    if args.otel:
        os.environ["ACTORBUS_OTEL"] = "1"  # worker processes inherit it
    otel = os.environ.get("ACTORBUS_OTEL", "").lower() in {"1", "true", "on", "yes"}
    problem = _observability_problem(args.metrics, otel) or _address_problem(args.health)
    if not problem and args.reload and not _installed("watchfiles"):
        problem = f"--reload needs watchfiles: {install_hint('reload')}"
    if problem:
        _error(problem)
        return EXIT_USAGE
    if args.config:
        os.environ[_config.CONFIG_FILE_ENV] = os.path.abspath(args.config)
    bus = _chosen_bus(args.nats)
    try:
        classes = _supervisor.load_targets(args.targets)
        for cls in classes:
            cls._verify()
            _config.resolve(cls)
        _config.check_hosts(cls.host() for cls in classes)
    except (_supervisor.TargetError, _config.ConfigError) as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:
        raise CliError(import_failure(exc)) from exc
    if args.check:  # --reload's test of new code: it loads, so it may replace the old
        return 0
    plane = valid_plane(args.plane or default_plane())
    credentials = load_credentials_option(args)
    args.http_settings = http_settings(args)
    reload_plan = _reload_plan(args, classes)  # before the options: it may set --workers
    opts = _supervisor.RunOptions(
        targets=list(args.targets),
        nats=args.nats,
        replicas=args.replicas,
        workers=args.workers,
        grace=args.grace,
        plane=plane,
        trace_ws=None if args.trace_ws == "off" else args.trace_ws,
        worker=args.worker,
        metrics=_metrics_address(args.metrics),
        health=_health_address(args.health),
        reload=reload_plan,
        otel=otel,
        credentials=credentials,
    )
    server: Any = None
    if bus:
        trio.run(probe_bus, bus)
        if any(spec.durable for cls in classes for spec in cls._handlers):
            trio.run(probe_jetstream, bus)
        elif any(spec.singleton for cls in classes for spec in cls._tickers):
            trio.run(probe_jetstream, bus, NO_JETSTREAM_LEASES)
    else:
        if opts.worker:
            _error("a worker needs --nats")
            return EXIT_USAGE
        try:
            server, default_port = start_embedded()
        except Exception as exc:
            _error(f"cannot start the embedded nats-server: {exc}")
            return EXIT_BUS
        bus = server.url
        if args.trace_ws is None:
            opts.trace_ws = DEFAULT_TRACE
        _announce_embedded(bus, plane, opts, default_port, tracer_defaulted=args.trace_ws is None)
    try:
        return trio.run(_run_async, opts, classes, args, bus)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        if server is not None:
            server.stop()
            from . import state

            state.clear()


def _chosen_bus(nats: str | None) -> str:
    """``--nats``, else ``$NATS_URL``, else "" (start an embedded server). Never the state
    file: that is how other commands find a run, not how a run finds a bus to join."""
    if nats:
        return check_nats_url(nats, "--nats")
    env = os.environ.get("NATS_URL", "")
    return check_nats_url(env, "NATS_URL") if env.strip() else ""


def _announce_embedded(
    bus: str, plane: str, opts: Any, default_port: bool, *, tracer_defaulted: bool
) -> None:
    """Record the embedded bus for the other commands (unless another live run holds that
    record) and say where it is: one info line, or one warning line when 4222 was taken."""
    from . import state
    from .process import DEFAULT_PORT, port_free

    other = state.read()
    where = state.write(bus, plane, opts.trace_ws) if other is None else None
    if default_port:
        log.info("embedded nats-server on %s", bus)
        return
    note = ""
    if tracer_defaulted and opts.trace_ws == DEFAULT_TRACE:
        host, _, port = DEFAULT_TRACE.rpartition(":")
        if not port_free(host, int(port)):
            opts.trace_ws, note = None, f"; no live tracer ({DEFAULT_TRACE} is taken too)"
    if other is not None:
        found = f"the actorbus run with pid {other.get('pid')} on {other.get('nats')}"
        log.warning(
            "port %d is taken by %s: this run has its own embedded nats-server on %s "
            "(NATS_URL=%s reaches it; call/ping/trace without it reach the first run)%s",
            DEFAULT_PORT, found, bus, bus, note,
        )  # fmt: skip
    else:
        log.warning(
            "port %d is taken by another process: embedded nats-server on %s instead "
            "(actorbus call/ping/trace find it through %s; or NATS_URL=%s)%s",
            DEFAULT_PORT, bus, where, bus, note,
        )  # fmt: skip


def _reload_plan(args: argparse.Namespace, classes: Any) -> tuple[list[Any], list[str]] | None:
    """``--reload``: the folders to watch and the command that checks new code (its actors
    then run in worker processes, one unless ``--workers``, so that they can restart)."""
    if not args.reload or args.worker:
        return None
    from .reload import watch_paths

    if not args.workers:
        args.workers = 1
    check = [sys.executable, "-m", "actorbus", "run", *args.targets, "--check"]
    if args.config:
        check += ["--config", args.config]
    return watch_paths(args.targets, classes), check


def _health_address(text: str | None) -> tuple[str, int] | None:
    from .metrics_http import parse_address

    return parse_address(text, "--health", 8080) if text else None


def _metrics_address(text: str | None) -> tuple[str, int] | None:
    from .metrics_http import parse_address

    return parse_address(text) if text else None


def _observability_problem(metrics: str | None, otel: bool) -> str | None:
    """One line saying why ``--metrics``/``--otel`` cannot work here, or None."""
    from .metrics_http import MetricsAddressError

    try:
        _metrics_address(metrics)
    except MetricsAddressError as exc:
        return str(exc)
    if metrics and not _installed("prometheus_client"):
        return f"--metrics needs prometheus-client: {install_hint('metrics')}"
    if otel:
        if not _installed("opentelemetry.sdk"):
            return f"--otel needs the OpenTelemetry SDK: {install_hint('otel')}"
        from .._observe.otel import OtelConfigError, exporters_from_env

        try:
            exporters_from_env()
        except OtelConfigError as exc:
            return str(exc)
    return None


def _address_problem(health: str | None) -> str | None:
    from .metrics_http import MetricsAddressError

    try:
        _health_address(health)
    except MetricsAddressError as exc:
        return str(exc)
    return None


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported; `find_spec` of a submodule raises when its parent
    package is missing, which must read as "not installed", not as a crash."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


async def _run_async(opts: Any, classes: Any, args: argparse.Namespace, bus: str) -> int:
    from . import supervisor as _supervisor

    # No secret on a worker's command line: the bus URL (which may carry a password) travels in
    # its environment (see `supervisor.run_workers`), the credentials as a file name.
    worker_argv = [
        sys.executable, "-m", "actorbus", "run", *opts.targets,
        "--replicas", str(opts.replicas), "--grace", str(opts.grace),
        "--plane", opts.plane, "--log-format", args.log_format, "--log-level", args.log_level,
        "--trace-ws", "off",
    ]  # fmt: skip
    if opts.credentials is not None and opts.credentials.source:
        worker_argv += ["--credentials", opts.credentials.source]
    extra = []
    if opts.trace_ws and not opts.worker:
        extra.append(
            _tracer_task(bus, opts.trace_ws, opts.plane, opts.credentials, args.trace_history)
        )
    if args.http_settings and not opts.worker:  # the ingress stays up across --reload too
        extra.append(ingress_task(bus, args.http_settings, opts.plane, opts.credentials))
    return await _supervisor.run(opts, classes, bus, worker_argv, extra)


def _tracer_task(
    bus: str, listen: str, plane: str, credentials: Any = None, history: int = 0
) -> Callable[[], Awaitable[None]]:
    """The live tracer beside ``actorbus run``: an add-on, never fatal."""

    async def tracer() -> None:
        try:
            from .._tracer.websocket import serve_tracer  # lazy: trio-websocket only when tracing
        except ImportError as exc:
            log.info("live tracer not available (%s)", exc)
            return
        try:
            log.info("live tracer on ws://%s (actorbus trace ws://%s)", listen, listen)
            await serve_tracer(bus, listen, plane=plane, credentials=credentials, history=history)
        except Exception as exc:
            log.warning("the live tracer on %s stopped: %r", listen, exc)

    return tracer
