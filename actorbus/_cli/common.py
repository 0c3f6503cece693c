"""What every command shares: exit codes, one-line errors, the bus URL and a fast reachability
check.

Exit codes: 0 ok; 1 the remote handler failed (or an unexpected error); 2 bad usage (arguments,
the user's module, a bad URL); 3 no responder; 4 timed out; 5 the bus cannot be reached;
130 interrupted. A traceback is printed only with ``--debug`` or ``ACTORBUS_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

import trio

from .._excgroups import leaf
from .._transport.settings import redact

__all__ = [
    "DEFAULT_NATS",
    "EXIT_BUS",
    "EXIT_INTERRUPTED",
    "EXIT_NO_RESPONDER",
    "EXIT_REMOTE",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "CliError",
    "bus_url",
    "check_nats_url",
    "debug_enabled",
    "describe_exception",
    "error",
    "import_failure",
    "print_traceback",
    "probe_bus",
    "probe_jetstream",
    "valid_plane",
]

EXIT_REMOTE, EXIT_USAGE, EXIT_NO_RESPONDER, EXIT_TIMEOUT, EXIT_BUS = 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
DEFAULT_NATS = "nats://127.0.0.1:4222"
NATS_SCHEMES = ("nats://", "tls://", "ws://", "wss://")
#: How long the reachability check waits for a TCP answer before calling the bus unreachable.
PROBE_SECONDS = 5.0
_PACKAGE = Path(__file__).resolve().parent.parent


class CliError(Exception):
    """A failure to report as one line with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def debug_enabled(flag: bool = False) -> bool:
    return flag or os.environ.get("ACTORBUS_DEBUG", "") not in ("", "0")


def error(message: str) -> None:
    """Print ``actorbus: message`` on stderr, on one line."""
    line = " ".join(str(message).split())
    print(f"actorbus: {line}", file=sys.stderr, flush=True)


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` for an unexpected exception (its first leaf when it is a group)."""
    exc = _first_leaf(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_leaf(exc: BaseException) -> BaseException:
    exc = leaf(exc)
    while isinstance(exc, BaseExceptionGroup):
        real = [e for e in exc.exceptions if not isinstance(e, trio.Cancelled)]
        exc = leaf((real or list(exc.exceptions))[0])
    return exc


def print_traceback(exc: BaseException) -> None:
    traceback.print_exception(exc, file=sys.stderr)


def valid_plane(plane: str) -> str:
    from .._wire.subjects import SubjectError, validate_plane

    try:
        return validate_plane(plane)
    except SubjectError as exc:
        raise CliError(str(exc)) from None


def bus_url(nats: str | None, default: str = DEFAULT_NATS) -> str:
    """The bus: ``--nats``, else ``$NATS_URL``, else the bus of the running ``actorbus run``
    (its state file), else ``default``; a usage error when malformed."""
    if nats:
        return check_nats_url(nats, "--nats")
    env = os.environ.get("NATS_URL", "")
    if env.strip():
        return check_nats_url(env, "NATS_URL")
    from . import state

    found = state.read()
    return str(found["nats"]) if found else default


def plane_for(plane: str | None, nats: str | None) -> str | None:
    """``--plane``, else ``$ACTORBUS_PLANE``, else (when the bus came from the running
    ``actorbus run``) that run's plane; None means the default plane."""
    if plane:
        return valid_plane(plane)
    if os.environ.get("ACTORBUS_PLANE") or nats or os.environ.get("NATS_URL", "").strip():
        return None
    from . import state

    found = state.read()
    return str(found["plane"]) if found and found.get("plane") else None


def check_nats_url(url: str, source: str) -> str:
    """Every comma-separated part must be a NATS URL; else a usage error naming ``source``."""
    for part in url.split(","):
        part = part.strip()
        if not part.startswith(NATS_SCHEMES):
            hint = f"; did you mean nats://{redact(part)}?" if "://" not in part and part else ""
            raise CliError(
                f"{source} {redact(part)!r} is not a NATS URL: expected nats://HOST:PORT"
                f" (or tls://, ws://, wss://){hint}"
            )
        host, port = _host_port(part)
        if not host:
            raise CliError(f"{source} {redact(part)!r} names no host")
        if port is None:
            text = _port_text(part)
            problem = (
                f"the port must be 1..65535, got {text}" if text.isdigit()
                else "the port is not a number"
            )  # fmt: skip
            raise CliError(f"{source} {redact(part)!r}: {problem}")
    return url


def _port_text(url: str) -> str:
    hostport = url.partition("://")[2].rpartition("@")[2].partition("/")[0]
    return hostport.rpartition("]")[2].rpartition(":")[2] if ":" in hostport else ""


def _host_port(url: str) -> tuple[str, int | None]:
    rest = url.partition("://")[2]
    hostport = rest.rpartition("@")[2].partition("/")[0]
    if hostport.startswith("["):  # [ipv6]:port
        host, _, tail = hostport[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = hostport.partition(":")
    if not port_text:
        return host, 443 if url.startswith("wss://") else 4222
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return host, None
    return host, int(port_text)


async def probe_bus(url: str) -> None:
    """Fail fast (`CliError`, exit 5) when no server of ``url`` accepts a TCP connection.

    A refused connection or an unknown host is a definite answer; the NATS client would
    otherwise keep retrying until its connect bound.
    """
    problems: list[str] = []
    for part in url.split(","):
        host, port = _host_port(part.strip())
        assert port is not None  # checked by check_nats_url
        with trio.move_on_after(PROBE_SECONDS):
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError as exc:
                problems.append(f"{host}:{port}: {_os_reason(exc)}")
                continue
            await stream.aclose()
            return
        problems.append(f"{host}:{port}: no answer within {PROBE_SECONDS:g} s")
    raise CliError(
        f"cannot reach the bus at {redact(url)}: {'; '.join(problems)}"
        " (is nats-server running? `actorbus run` starts one)",
        EXIT_BUS,
    )


async def probe_jetstream(url: str, refusal: str = "") -> None:
    """Fail fast (`CliError`, exit 5, ``refusal`` or the durable sinks' line) when the first
    server of ``url`` that answers says in its INFO that it runs no JetStream. Says nothing
    when no INFO could be read: the actors' own start then reports what is wrong."""
    from .._transport.jetstream import NO_JETSTREAM

    for part in url.split(","):
        host, port = _host_port(part.strip())
        assert port is not None
        with trio.move_on_after(PROBE_SECONDS):
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError:
                continue
            try:
                line = b""
                while b"\r\n" not in line and len(line) < 65536:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        break
                    line += chunk
            except trio.BrokenResourceError:
                return
            finally:
                await stream.aclose()
            head, _, body = line.partition(b" ")
            try:
                info = json.loads(body.partition(b"\r\n")[0]) if head == b"INFO" else None
            except ValueError:
                return
            if isinstance(info, dict) and not info.get("jetstream"):
                raise CliError(refusal or NO_JETSTREAM, EXIT_BUS)
            return


def _os_reason(exc: BaseException) -> str:
    """``Connection refused`` rather than trio's "all attempts to connect ... failed"."""
    seen: BaseException | None = exc
    while seen is not None:
        seen = leaf(seen)
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__
    return str(exc) or type(exc).__name__


def import_failure(exc: BaseException) -> str:
    """One line for an exception raised while importing the user's module: where and what."""
    if isinstance(exc, SyntaxError):
        where = f"{_short(exc.filename)}:{exc.lineno}" if exc.filename else "?"
        return f"{where}: {type(exc).__name__}: {exc.msg}"
    frame = _user_frame(exc.__traceback__)
    where = f"{frame[0]}:{frame[1]}: " if frame else ""
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__module__.startswith("actorbus"):
        return f"{where}{text}"
    return f"{where}{type(exc).__name__}: {text}"


def _user_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    """The innermost traceback frame outside actorbus and the import machinery."""
    found: tuple[str, int] | None = None
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if filename.startswith("<") or Path(filename).resolve().is_relative_to(_PACKAGE):
            continue
        found = (_short(filename), lineno)
    return found


def _short(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename
