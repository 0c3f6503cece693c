"""What ``actorbus run`` needs from the operating system: the embedded nats-server's port,
and the signals (and, in a worker, the supervisor's pipe) that start a graceful shutdown."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from .._transport.embedded import EmbeddedServer

__all__ = ["DEFAULT_PORT", "port_free", "start_embedded", "watch_signals", "watch_stdin_eof"]

log = logging.getLogger("actorbus.run")

DEFAULT_PORT = 4222


# -- the bus ------------------------------------------------------------------------------


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_embedded() -> tuple[EmbeddedServer, bool]:
    """Start nats-server on 127.0.0.1:4222, or on a free port if that is taken.

    Returns (server, got_the_default_port). Blocking; call it before `trio.run`. The server runs
    in its own session, so a terminal's Ctrl-C (sent to the whole foreground process group)
    leaves the bus up while the actors drain; it is stopped after them.
    """
    from .._transport.embedded import EmbeddedServer, EmbeddedServerError

    if port_free("127.0.0.1", DEFAULT_PORT):
        server = EmbeddedServer("127.0.0.1", DEFAULT_PORT, own_session=True)
        try:
            server.start()
            return server, True
        except EmbeddedServerError as exc:
            log.debug("port %d went away: %s", DEFAULT_PORT, exc)
    server = EmbeddedServer("127.0.0.1", 0, own_session=True)
    server.start()
    return server, False


# -- signals ------------------------------------------------------------------------------


async def watch_signals(
    on_first: Callable[[str], None],
    on_second: Callable[[str], None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """First SIGINT/SIGTERM → ``on_first``; any later one → ``on_second``."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        count = 0
        async for signum in signals:
            count += 1
            (on_first if count == 1 else on_second)(signal.Signals(signum).name)


async def watch_stdin_eof(stop: trio.Event) -> None:
    """Worker side: the supervisor holds our stdin; EOF means it is gone → stop gracefully."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stream:
        while await stream.receive_some(4096):
            pass
    if not stop.is_set():
        log.warning("the supervisor went away (stdin closed): shutting down")
        stop.set()
