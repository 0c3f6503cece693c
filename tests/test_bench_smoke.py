"""`python -m tools.bench --smoke` runs end to end and prints its JSON line (shape, not speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

REQUIRED_KEYS = {
    "quick",
    "smoke",
    "reps",
    "raw_seq_rate",
    "raw_seq_p50_us",
    "actorbus_seq_rate",
    "actorbus_seq_p50_us",
    "unicast_seq_p50_ratio",
    "raw_pipelined_rate",
    "actorbus_pipelined_rate",
    "unicast_pipelined_ratio",
    "colocated_rate",
    "memory_rate",
    "colocated_speedup",
    "raw_gather10_rate",
    "actorbus_gather10_rate",
    "gather1_ratio",
    "gather10_ratio",
    "gather100_ratio",
    "cancel_5th_hop_ms",
    "targets",
    "meets",
    "versions",
    "gather1000_ratio",
    "first_gather_ms",
    "actors1000_start_s",
    "actors1000_rss_mb_per_actor",
    "workers2_speedup",
}
MEASURED = (
    "unicast_seq_p50_ratio",
    "unicast_pipelined_ratio",
    "colocated_speedup",
    "gather10_ratio",
    "cancel_5th_hop_ms",
    "first_gather_ms",
    "scale_gather100_ratio",
    "scale_actors50_start_s",
)


@pytest.mark.slow
@pytest.mark.nats
def test_bench_smoke_prints_a_json_line_with_every_figure(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) > 1, "expected a table before the JSON line"
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict)
    assert figures.keys() >= REQUIRED_KEYS, REQUIRED_KEYS - figures.keys()
    assert figures["smoke"] is True and figures["quick"] is False
    for key in MEASURED:
        value = figures[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
    assert figures["gather100_ratio"] is None  # not measured in smoke mode
    assert {"nats-py", "trio", "trio-asyncio", "msgspec", "actorbus"} <= figures["versions"].keys()
    assert figures["gather1000_ratio"] is None and figures["workers2_speedup"] is None

    # The README's plot is drawn from that line.
    pytest.importorskip("matplotlib")
    (tmp_path / "bench.json").write_text(proc.stdout)
    png = tmp_path / "plot.png"
    plot = subprocess.run(
        [sys.executable, "-m", "tools.bench.plot", str(tmp_path / "bench.json"), str(png)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plot.returncode == 0, plot.stderr[-3000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
