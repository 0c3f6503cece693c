"""``python -m tools.bench.plot BENCH.json OUT.png``: the README's performance plot.

Reads the JSON line that ``python -m tools.bench`` prints last (the file may hold the whole
output: the last line that parses as a JSON object is used) and draws, for raw nats-py and
actorbus side by side, calls/s against calls in flight and gathers/s against the number of sink
hosts. Needs the ``plot`` extra (matplotlib).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, Any]:
    for line in reversed(path.read_text().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            data: dict[str, Any] = json.loads(line)
            return data
    raise SystemExit(f"plot: no JSON line in {path}")


def series(
    data: dict[str, Any], impl: str
) -> tuple[list[int], list[float], list[int], list[float]]:
    depth = [1, int(data.get("pipeline_depth", 64))]
    calls = [data.get(f"{impl}_seq_rate"), data.get(f"{impl}_pipelined_rate")]
    sizes, gathers = [], []
    for n in (1, 10, 100, 1000):
        rate = data.get(f"{impl}_gather{n}_rate")
        if rate:
            sizes.append(n)
            gathers.append(float(rate))
    pairs = [(d, float(c)) for d, c in zip(depth, calls, strict=True) if c]
    return [d for d, _ in pairs], [c for _, c in pairs], sizes, gathers


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m tools.bench.plot BENCH.json OUT.png", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = load(Path(args[0]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for impl, label, style in (("raw", "raw nats-py", "o--"), ("actorbus", "actorbus", "s-")):
        depth, calls, sizes, gathers = series(data, impl)
        left.plot(depth, calls, style, label=label)
        right.plot(sizes, gathers, style, label=label)
    left.set(xscale="log", xlabel="calls in flight", ylabel="calls/s", title="Unicast calls")
    right.set(
        xscale="log",
        yscale="log",
        xlabel="sink hosts",
        ylabel="gathers/s",
        title="Events gathered from N sinks",
    )
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    versions = data.get("versions", {})
    fig.suptitle(
        f"actorbus {versions.get('actorbus', '?')} vs nats-py {versions.get('nats-py', '?')}, "
        f"nats-server {versions.get('nats-server', '?')}, 2 cores ({data.get('mode')} run)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(args[1], dpi=110)
    print(f"wrote {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
