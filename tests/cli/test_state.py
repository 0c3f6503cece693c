"""The state file by which ``actorbus call/ping/trace`` find the bus ``actorbus run`` started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actorbus._cli import state
from actorbus._cli.common import DEFAULT_NATS, bus_url, plane_for


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(state.STATE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("ACTORBUS_PLANE", raising=False)
    return tmp_path


def test_a_recorded_bus_is_found_and_cleared(state_dir: Path) -> None:
    assert bus_url(None) == DEFAULT_NATS  # nothing recorded yet
    state.write("nats://127.0.0.1:40001", "blue", "127.0.0.1:4281")
    assert bus_url(None) == "nats://127.0.0.1:40001"
    assert plane_for(None, None) == "blue"
    assert bus_url("nats://elsewhere:1") == "nats://elsewhere:1"  # flags win
    assert plane_for(None, "nats://elsewhere:1") is None  # ...and the run's plane too
    state.clear()
    assert not (state_dir / "run.json").exists()
    assert bus_url(None) == DEFAULT_NATS


def test_a_record_of_a_dead_process_or_garbage_is_ignored(state_dir: Path) -> None:
    (state_dir / "run.json").write_text(json.dumps({"pid": 2**22 + 12345, "nats": "nats://x:1"}))
    assert state.read() is None
    (state_dir / "run.json").write_text("not json")
    assert state.read() is None
    assert bus_url(None) == DEFAULT_NATS
