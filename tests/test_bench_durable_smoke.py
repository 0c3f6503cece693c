"""`python -m tools.bench.durable --smoke` runs end to end and prints its JSON line (shape, not
speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.nats
def test_durable_bench_smoke_prints_a_json_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.durable", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["mode"] == "smoke" and figures["events"] == 300
    for key in ("actorbus_durable_rate", "raw_durable_rate", "durable_events_ratio"):
        assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures)
    assert isinstance(figures["meets"], bool)
