"""Worker processes of the benchmark, driven line by line (see `tools.bench.common`)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class BenchError(RuntimeError):
    """A worker process failed, died or did not answer in time."""


class Worker:
    """One child process: ``python -u -m <module> <args>`` with stdin/stdout as the line protocol.

    Its stderr goes to ``<log_dir>/<name>.log`` (shown in errors).
    """

    def __init__(
        self,
        name: str,
        module: str,
        args: list[str],
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        env = {**os.environ, **(extra_env or {})}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env.setdefault("PYTHONHASHSEED", "0")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-m", module, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=REPO,
                env=env,
                text=True,
                bufsize=1,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        for line in stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, what: str) -> BenchError:
        tail = self.log_tail()
        return BenchError(f"{self.name} (pid {self.pid}): {what}\n--- stderr tail ---\n{tail}")

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The rest of the next line starting with ``prefix``; other lines are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no {prefix.strip()!r} line within {timeout:g} s")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise self._fail(f"exited with code {self.proc.wait()} before {prefix.strip()!r}")
            if line.startswith(prefix):
                return line[len(prefix) :]

    def send(self, command: dict[str, Any]) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(command) + "\n")
            stdin.flush()
        except OSError as exc:
            raise self._fail(f"cannot send a command: {exc}") from None

    def request(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(command)
        result: dict[str, Any] = json.loads(self.wait_for("RESULT ", timeout))
        if "error" in result:
            raise self._fail(f"answered {command!r} with {result['error']}")
        return result

    def close(self, timeout: float = 15.0) -> None:
        """Ask the worker to quit (end of stdin), then terminate/kill it by pid if needed."""
        proc = self.proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_ready(workers: list[Worker], timeout: float) -> None:
    for worker in workers:
        worker.wait_for("READY", timeout)
