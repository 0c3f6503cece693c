"""Where ``actorbus run`` tells the other commands which bus it started.

An ``actorbus run`` that starts its own nats-server writes a small JSON file (its pid, the bus
URL, the plane, the tracer's address); ``actorbus call/ping/trace`` given no bus read it, so they
talk to that server rather than to whatever else holds port 4222. The file lives in
``$ACTORBUS_STATE_DIR``, else ``$XDG_RUNTIME_DIR/actorbus``, else ``<tmp>/actorbus-<uid>``; a file
whose process is gone is ignored. It holds no secrets (the embedded server has none).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["STATE_DIR_ENV", "clear", "read", "state_file", "write"]

STATE_DIR_ENV = "ACTORBUS_STATE_DIR"


def state_file() -> Path:
    """The state file's path (its folder may not exist yet)."""
    base = os.environ.get(STATE_DIR_ENV)
    if base:
        return Path(base) / "run.json"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "actorbus" / "run.json"
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"actorbus-{uid}" / "run.json"


def write(nats: str, plane: str, trace_ws: str | None) -> Path:
    """Record this process's bus; replaces the file atomically. Returns its path."""
    path = state_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = {"pid": os.getpid(), "nats": nats, "plane": plane, "trace_ws": trace_ws}
    partial = path.with_name(f".run.{os.getpid()}.json")
    partial.write_text(json.dumps(info) + "\n")
    partial.replace(path)
    return path


def clear() -> None:
    """Remove the file if this process wrote it."""
    info = _load()
    if info is not None and info.get("pid") == os.getpid():
        state_file().unlink(missing_ok=True)


def read() -> dict[str, Any] | None:
    """The running ``actorbus run``'s record, or None (no file, unreadable, process gone)."""
    info = _load()
    if info is None or not isinstance(info.get("nats"), str):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return info


def _load() -> dict[str, Any] | None:
    try:
        info = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
