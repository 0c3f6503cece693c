"""``actorbus stubs``: an API module for running hosts, and ``--check`` of one against them.

The hosts describe themselves on ``:888/describe``; `stubgen` turns that into source and
compares it. ``--check`` exits 1 with one line per difference (a CI check against drift).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
import trio

from .common import EXIT_NO_RESPONDER, EXIT_REMOTE, CliError, import_failure
from .stubdrift import drift
from .stubgen import generate

__all__ = ["add_stubs_parser", "api_classes", "cmd_stubs", "declared_descriptions"]


def add_stubs_parser(sub: Any, bus_options: Callable[[argparse.ArgumentParser], None]) -> None:
    stubs = sub.add_parser(
        "stubs", help="write an API module for running hosts (or --check one against them)"
    )
    stubs.add_argument("hosts", nargs="*", metavar="HOST", help="hostnames to write APIs for")
    stubs.add_argument("--out", metavar="FILE", help="write the module here (default: stdout)")
    stubs.add_argument(
        "--check", metavar="MODULE",
        help="compare MODULE (a module name or a .py file) with the running hosts; exit 1 on drift",
    )  # fmt: skip
    bus_options(stubs)


def cmd_stubs(args: argparse.Namespace) -> int:
    from .._wire.subjects import validate_hostname
    from .client import run_client

    if args.check:
        if args.hosts or args.out:
            raise CliError("stubs: --check MODULE takes no HOST and no --out")
        declared = declared_descriptions(api_classes(args.check))
        if not declared:
            raise CliError(f"stubs --check: {args.check} defines no Api class")
        return run_client(_check, args, declared)
    if not args.hosts:
        raise CliError("stubs: name at least one HOST (or --check MODULE)")
    for host in args.hosts:
        try:
            validate_hostname(host)
        except ValueError as exc:
            raise CliError(f"stubs: {exc}") from None
    return run_client(_write, args)


def api_classes(where: str) -> list[type[Any]]:
    """The `Api` subclasses defined in a module (by name or by .py file)."""
    from .._runtime.api import is_api
    from .targets import TargetError, import_target

    try:
        modules = import_target(where)
    except TargetError as exc:
        raise CliError(f"stubs --check: {exc}") from None
    except Exception as exc:
        raise CliError(import_failure(exc)) from exc
    return [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and is_api(value) and value.__module__ == module.__name__
    ]


def declared_descriptions(classes: list[type[Any]]) -> list[dict[str, Any]]:
    """What hosts implementing ``classes`` would serve on ``:888/describe`` (handlers only)."""
    from .._runtime.description import describe_handler

    out = []
    for cls in classes:
        host = cls.host()
        try:
            handlers = [msgspec.to_builtins(describe_handler(s, host)) for s in cls._handlers]
        except TypeError as exc:
            raise CliError(f"stubs --check: {exc}") from None
        out.append({"host": host, "doc": cls.__doc__ or "", "handlers": handlers})
    return out


def _timeout(seconds: float | None) -> contextlib.AbstractContextManager[Any]:
    return trio.fail_after(seconds) if seconds is not None else contextlib.nullcontext()


async def _fetch(app: Any, args: argparse.Namespace, hosts: list[str]) -> list[dict[str, Any]]:
    from .describe import fetch_descriptions

    found: list[dict[str, Any]] = []
    missing: list[str] = []
    with _timeout(args.timeout):
        for host in hosts:
            got = [d for d in await fetch_descriptions(app, host) if d.get("host") == host]
            if got:
                found.append(got[0])
            else:
                missing.append(host)
    if missing and not args.check:
        raise CliError(
            f"stubs: no actor answers on {', '.join(missing)} (plane {app.plane})",
            EXIT_NO_RESPONDER,
        )
    return found


async def _write(app: Any, args: argparse.Namespace) -> int:
    hosts = list(dict.fromkeys(args.hosts))
    found = await _fetch(app, args, hosts)
    source = generate(found, f"actorbus stubs {' '.join(hosts)}")
    if args.out:
        try:
            await trio.Path(args.out).write_text(source, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"stubs --out {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out}: the API of {', '.join(hosts)}", flush=True)
    else:
        print(source, end="", flush=True)
    return 0


async def _check(app: Any, args: argparse.Namespace, declared: list[dict[str, Any]]) -> int:
    hosts = [str(d["host"]) for d in declared]
    running = await _fetch(app, args, hosts)
    problems = drift(args.check, declared, running)
    for line in problems:
        print(line, flush=True)
    if problems:
        raise CliError(
            f"stubs --check: {args.check} differs from the running hosts in "
            f"{len(problems)} place{'s' if len(problems) > 1 else ''}",
            EXIT_REMOTE,
        )
    print(f"{args.check} matches the running {', '.join(hosts)}", flush=True)
    return 0
