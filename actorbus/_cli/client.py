"""The commands that talk to running actors as a client: ``call``, ``describe``, ``ping``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import Any

import msgspec
import trio

from .._transport.settings import redact
from .common import EXIT_NO_RESPONDER, CliError, bus_url, plane_for, probe_bus
from .describe import check_route, fetch_descriptions, format_descriptions, parse_pair, print_json
from .refusals import watch_refusals

__all__ = ["build_body", "cmd_call", "cmd_describe", "cmd_ping", "parse_target", "parse_value"]


# -- call ----------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """JSON when it parses (``5``, ``true``, ``[1,2]``, ``"x"``), else the text itself."""
    return parse_pair(text, None)


def build_body(
    body: str | None, pairs: Sequence[str], schemas: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``--json`` object, then ``key=value`` pairs on top of it. Raises ValueError.

    ``schemas`` (the parameters' JSON Schemas) keep a value text where a string is expected.
    """
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
        schema = schemas.get(key) if schemas is not None else None
        args[key] = parse_pair(value, schema if isinstance(schema, dict) else None)
    return args


def parse_target(target: str, port: int) -> tuple[str, int, str]:
    """``host[:port]/path`` → (host, port, /path). Raises ValueError naming the problem."""
    from .._wire.subjects import validate_hostname

    for scheme in ("https://", "http://"):
        target = target.removeprefix(scheme)
    host, sep, path = target.partition("/")
    if ":" in host:
        host, _, port_text = host.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{target!r}: the port must be a number 1..65535, got {port_text!r}")
        port = int(port_text)
    if not host or not sep:
        raise ValueError(f"{target!r}: expected HOST/PATH, e.g. users.example/delete-user")
    validate_hostname(host)
    return host, port, "/" + path


def _timeout(seconds: float | None) -> contextlib.AbstractContextManager[Any]:
    return trio.fail_after(seconds) if seconds is not None else contextlib.nullcontext()


def cmd_call(args: argparse.Namespace) -> int:
    try:
        host, port, path = parse_target(args.target, args.port or 443)
        build_body(args.body, args.args)  # syntax only here; the values are typed in `_call`
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return run_client(_call, args, host, port, path)


async def _call(app: Any, args: argparse.Namespace, host: str, port: int, path: str) -> int:
    """One request, straight to the endpoint. Only when it fails in a way the endpoint's
    description can explain (nobody on that route, or arguments refused) does ``call`` ask the
    host to describe itself, then retries (nothing ran) or explains in one line."""
    from .._runtime.errors import BadRequest, NoResponder

    method = args.method or "POST"
    if args.multicast:
        return await _multicast(app, args, host, port, method, path)
    with _timeout(args.timeout):
        body = build_body(args.body, args.args)
        try:
            value = await _send(app, host, port, method, path, body)
        except (NoResponder, BadRequest) as exc:
            port, method, typed, kind = await _reroute(app, args, host, port, method, path, exc)
            if kind == "event":
                raise CliError(
                    f"{host}{path} is an event: add --multicast to fire it to every sink"
                ) from None
            if isinstance(exc, BadRequest) and typed == body:
                raise
            value = await _send(app, host, port, method, path, typed)
    print_json(value)
    return 0


async def _multicast(
    app: Any, args: argparse.Namespace, host: str, port: int, method: str, path: str
) -> int:
    """``--multicast``: fire an event to every sink (port 417), or call every replica of an
    endpoint; one JSON line per reply. When nobody serves that route (no reply, or only 404s
    from the host's replicas), the route is looked up in the host's description once."""
    from .._runtime.errors import NoResponder
    from .._wire.subjects import EVENT_PORT

    body = build_body(args.body, args.args)
    with _timeout(args.timeout):
        replies = await _gather(app, host, port, method, path, body, port != EVENT_PORT)
        if all(getattr(r.error, "status", None) == 404 for r in replies):
            missing = NoResponder(f"no responder for {host}:{port}{path}")
            port, method, body, _ = await _reroute(app, args, host, port, method, path, missing)
            replies = await _gather(app, host, port, method, path, body, port != EVENT_PORT)
    for reply in replies:
        line: dict[str, Any] = {"host": reply.host, "instance": reply.instance, "ok": reply.ok}
        if reply.ok:
            line["value"] = reply.value
        else:
            line["error"] = f"{type(reply.error).__name__}: {reply.error}"
        print(msgspec.json.encode(line).decode(), flush=True)
    if not replies:
        raise CliError(f"nobody answered {method} {host}:{port}{path}", EXIT_NO_RESPONDER)
    return 0


def _encode(body: Any) -> Any:
    """The arguments as a request body; ValueError (a usage error) for what msgpack cannot
    carry, such as an int past 64 bits."""
    from .._wire.frames import encode_body

    try:
        return encode_body(body)
    except (OverflowError, TypeError) as exc:
        raise ValueError(f"the arguments cannot be sent on the bus: {exc}") from None


async def _gather(
    app: Any, host: str, port: int, method: str, path: str, body: Any, every_replica: bool
) -> list[Any]:
    gathering = app.caller.multicast(
        host, port, method, path, _encode(body), msgspec.msgpack.decode,
        every_replica=every_replica,
    )  # fmt: skip
    return [reply async for reply in gathering]


async def _send(app: Any, host: str, port: int, method: str, path: str, body: Any) -> Any:
    return await app.caller.call(host, port, method, path, _encode(body), msgspec.msgpack.decode)


async def _reroute(
    app: Any, args: argparse.Namespace, host: str, port: int, method: str, path: str, exc: Exception
) -> tuple[int, str, dict[str, Any], str]:
    """The route, typed arguments and kind (endpoint or event) the host's description says this
    call meant; a one-line
    `CliError` when there is none. A route the user did not spell out (no ``--method``, no
    port) is taken from the description when that path has exactly one."""
    from .._runtime.errors import NoResponder
    from .._wire.subjects import CONTROL_PORT

    found = await fetch_descriptions(app, host) if port != CONTROL_PORT else []
    if not found:
        if isinstance(exc, NoResponder) and port != CONTROL_PORT:
            raise CliError(
                f"no actor answers on {host} (plane {app.plane}, bus {_shown(args)})",
                EXIT_NO_RESPONDER,
            ) from None
        raise exc
    desc = found[0]
    port_given = args.port is not None or ":" in args.target.split("//")[-1].partition("/")[0]
    routes = [
        h for h in desc.get("handlers", [])
        if h.get("kind") in ("endpoint", "event") and h.get("path") == path
    ]  # fmt: skip
    if len(routes) == 1 and args.method is None and not port_given:
        method, port = str(routes[0].get("method")), int(routes[0].get("port", port))
    handler = check_route(desc, method, port, path)
    schemas = handler.get("arguments", {}).get("properties", {})
    try:
        return port, method, build_body(args.body, args.args, schemas), str(handler.get("kind"))
    except ValueError as err:
        raise CliError(str(err)) from None


def _shown(args: argparse.Namespace) -> str:
    """The bus URL as it may be printed: without user, password or token."""
    return ",".join(redact(part) for part in bus_url(args.nats).split(","))


def run_client(fn: Any, args: argparse.Namespace, *rest: Any) -> int:
    """Open an App (no actors) on the bus and run ``fn``; a bus that nothing listens on fails
    at once (exit 5). Errors reach `main`, which maps them to one line and an exit code."""
    from .._app import App
    from .acl import load_credentials_option

    url = bus_url(args.nats)
    plane = plane_for(args.plane, args.nats)
    credentials = load_credentials_option(args)

    async def inner() -> int:
        await probe_bus(url)
        edge = App(bus=url, plane=plane, hostname="cli.actorbus", credentials=credentials)
        with watch_refusals() as refusals:
            async with edge as app:
                try:
                    result: int = await fn(app, args, *rest)
                except Exception as exc:
                    refusals.explain(exc, app.plane)
                    raise
                refusals.mention()
                return result

    return trio.run(inner)


# -- describe ------------------------------------------------------------------------------


def cmd_describe(args: argparse.Namespace) -> int:
    from .._wire.subjects import validate_hostname

    if args.host != "all":
        try:
            validate_hostname(args.host)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return run_client(_describe, args)


async def _describe(app: Any, args: argparse.Namespace) -> int:
    with _timeout(args.timeout):
        found = await fetch_descriptions(app, args.host)
    if args.json:
        print_json(found)
    elif found:
        print(format_descriptions(found), flush=True)
    if not found:
        raise CliError(
            f"no actor answered on {args.host!r} (plane {app.plane}, bus {_shown(args)})",
            EXIT_NO_RESPONDER,
        )
    return 0


# -- ping ----------------------------------------------------------------------------------


def cmd_ping(args: argparse.Namespace) -> int:
    return run_client(_ping, args)


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
        print_json(found)
    else:
        _print_table(found)
    if not found:
        raise CliError(
            f"no actor answered on {args.host!r} (plane {app.plane}, bus {_shown(args)})",
            EXIT_NO_RESPONDER,
        )
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
