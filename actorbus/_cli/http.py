"""``actorbus run --http HOST:PORT`` and ``actorbus ingress``: the HTTP ingress's options and
its task beside the supervisor (or alone, for a fleet behind a load balancer)."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .common import CliError, bus_url, probe_bus, valid_plane

__all__ = ["add_http_options", "add_ingress_parser", "cmd_ingress", "http_settings", "ingress_task"]

log = logging.getLogger("actorbus.ingress")


def _address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` = 127.0.0.1, ``[::1]:PORT`` for IPv6; port 0 picks one)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CliError(f"--http {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]") or "127.0.0.1"
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def add_http_options(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    """The ingress's options, shared by ``run`` and ``ingress``."""
    p.add_argument(
        "--http", metavar="HOST:PORT", required=required,
        help="serve the HTTP ingress here: METHOD /HOSTNAME[:PORT]/PATH becomes a bus call",
    )  # fmt: skip
    p.add_argument(
        "--http-ports", action="append", metavar="PORT[,PORT]",
        help="bus ports HTTP may reach besides 443 (888, the control plane, never)",
    )  # fmt: skip
    p.add_argument(
        "--cors", nargs="+", metavar="ORIGIN",
        help="allow these browser origins (CORS; default off); * allows any",
    )  # fmt: skip
    p.add_argument(
        "--http-max-body", type=int, metavar="BYTES", default=None,
        help="largest request body (default 32 MiB, the bus's body limit; past it, 413)",
    )  # fmt: skip
    p.add_argument(
        "--http-max-concurrent", type=int, metavar="N", default=None,
        help="requests in progress at once (default 1024; past it, 503)",
    )  # fmt: skip
    p.add_argument(
        "--http-idle-timeout", type=float, metavar="SECONDS", default=None,
        help="a connection may idle, or take to send its headers, this long (default 10 s)",
    )  # fmt: skip
    p.add_argument(
        "--http-tracebacks", action="store_true",
        help="show remote tracebacks to HTTP callers (debugging only; never in production)",
    )  # fmt: skip


def http_settings(args: argparse.Namespace) -> tuple[str, int, Any] | None:
    """(host, port, IngressOptions) from the command line, None without ``--http``; a bad
    option is a one-line usage error."""
    if not getattr(args, "http", None):
        return None
    from .._ingress.options import IngressOptions, OptionsError, parse_ports

    host, port = _address(args.http)
    extra: dict[str, Any] = {}
    if args.http_max_body is not None:
        extra["max_body"] = args.http_max_body
    if args.http_max_concurrent is not None:
        extra["max_concurrent"] = args.http_max_concurrent
    if args.http_idle_timeout is not None:
        if not args.http_idle_timeout > 0:
            raise CliError(f"--http-idle-timeout must be > 0, got {args.http_idle_timeout}")
        extra["idle_timeout"] = args.http_idle_timeout
    try:
        options = IngressOptions(
            ports=parse_ports(args.http_ports),
            cors=tuple(args.cors or ()),
            tracebacks=bool(args.http_tracebacks),
            **extra,
        )
    except OptionsError as exc:
        raise CliError(str(exc)) from None
    return host, port, options


def ingress_task(
    bus: str, settings: tuple[str, int, Any], plane: str | None, credentials: Any
) -> Callable[[], Awaitable[None]]:
    """The ingress beside ``actorbus run``; a port it cannot listen on stops the run."""
    host, port, options = settings

    async def ingress() -> None:
        from .._ingress import serve_ingress

        try:
            await serve_ingress(bus, host, port, options, plane=plane, credentials=credentials)
        except OSError as exc:
            raise CliError(f"--http {host}:{port}: cannot listen ({exc.strerror or exc})") from None
        except BaseExceptionGroup as group:
            found = group.subgroup(OSError)
            if found is None:
                raise
            first: BaseException = found.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            reason = first.strerror if isinstance(first, OSError) and first.strerror else first
            raise CliError(f"--http {host}:{port}: cannot listen ({reason})") from None

    return ingress


def add_ingress_parser(sub: Any) -> None:
    p = sub.add_parser("ingress", help="serve the HTTP ingress alone for a running bus")
    p.add_argument("--nats", metavar="URL", help="NATS URL (default: $NATS_URL, else the run's)")
    p.add_argument("--plane", help="plane (default: $ACTORBUS_PLANE, else 'actorbus')")
    add_http_options(p, required=True)
    from .acl import credentials_option

    credentials_option(p)


def cmd_ingress(args: argparse.Namespace) -> int:
    """``actorbus ingress --http HOST:PORT``: until SIGINT/SIGTERM (exit 0)."""
    from .._app import default_plane
    from .._runtime.logs import setup_logging
    from .acl import load_credentials_option
    from .common import plane_for

    settings = http_settings(args)
    assert settings is not None  # --http is required
    url = bus_url(args.nats)
    plane = plane_for(args.plane, args.nats) or valid_plane(default_plane())
    credentials = load_credentials_option(args)
    setup_logging()

    async def serve() -> None:
        await probe_bus(url)
        async with trio.open_nursery() as nursery:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                nursery.start_soon(ingress_task(url, settings, plane, credentials))
                async for signum in signals:
                    log.info("%s: stopping the ingress", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"--http {args.http}: {exc.strerror}") from exc
        raise
    return 0
