"""`python -m tools.bench.large --smoke` runs end to end and prints its JSON line (shape, not
speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYS = {
    "raw_large_mb_s",
    "actorbus_large_mb_s",
    "raw_large_client_rss_mib",
    "raw_large_responder_rss_mib",
    "actorbus_large_client_rss_mib",
    "actorbus_large_responder_rss_mib",
    "large_ratio",
}


@pytest.mark.slow
@pytest.mark.nats
def test_large_bench_smoke_prints_a_json_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.large", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS | {"meets", "target"}, figures
    assert figures["smoke"] is True and figures["size_mib"] == 10
    for key in KEYS:
        assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures[key])
    assert isinstance(figures["meets"], bool)
