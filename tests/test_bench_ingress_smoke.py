"""`python -m tools.bench.ingress --smoke` runs end to end and prints its JSON line (shape, not
speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYS = {"ingress_p50_us", "ingress_vs_bus_ratio", "ingress_vs_asgi_ratio", "bus_p50_us"}


@pytest.mark.slow
@pytest.mark.nats
def test_ingress_bench_smoke_prints_a_json_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.ingress", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    lines = proc.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures.keys() >= KEYS | {"asgi_p50_us", "meets"}, figures
    assert figures["smoke"] is True and figures["calls"] == 20
    for key in KEYS | {"asgi_p50_us"}:
        assert isinstance(figures[key], int | float) and figures[key] > 0, (key, figures[key])
    assert isinstance(figures["meets"], bool)
