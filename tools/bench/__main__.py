"""``python -m tools.bench [--quick | --smoke]``: actorbus over NATS against raw nats-py.

Starts its own embedded nats-server on a free loopback port. Every NATS figure comes from a
client process and a responder process of the same implementation (raw nats-py on plain asyncio,
or actorbus on Trio + trio-asyncio); repetitions are interleaved (each bench runs raw and
actorbus back to back, the order alternating from one repetition to the next), each ratio is
computed per repetition against the raw run next to it, and the figure is the median over the
repetitions. Prints a table, then, as its last line, one JSON object with every figure.
See ``tools/bench/README.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from actorbus._transport.embedded import EmbeddedServer, find_nats_server

from .common import GATHER_SIZES, PAYLOAD_SIZE, PIPELINE_DEPTH, median
from .runner import BenchError, Worker, wait_ready
from .scale import SCALE_KEYS, run_scale

#: ``actorbus`` is the default (Trio-native) NATS client, ``natspy`` the nats-py option.
IMPLS = ("raw", "actorbus", "natspy")
#: The NATS client each actorbus implementation runs on (``ACTORBUS_NATS_CLIENT``).
NATS_CLIENT = {"actorbus": "native", "natspy": "nats-py"}
#: One repetition's results: implementation → bench key → figures of that window.
Rep = dict[str, dict[str, Any]]
RAW_MODULE = "tools.bench.raw_nats"
ACTORBUS_MODULE = "tools.bench.actorbus_side"
START_TIMEOUT = 90.0
#: How long E's handler may take to see the cancel before the run counts as failed; a chain
#: that does not propagate cancellation would run into its 20 s default budget.
CANCEL_WAIT = 30.0

#: name → (figure, comparison, bound), from issues 3, 4 and 6.
TARGETS: dict[str, tuple[str, str, float]] = {
    "unicast_pipelined": ("unicast_pipelined_ratio", ">=", 0.9),
    "unicast_seq_p50": ("unicast_seq_p50_ratio", "<=", 1.5),
    "colocated": ("colocated_speedup", ">=", 15.0),
    "gather10": ("gather10_ratio", ">=", 0.7),
    "gather100": ("gather100_ratio", ">=", 0.7),
    "cancel_5th_hop": ("cancel_5th_hop_ms", "<", 100.0),
    "events": ("events_ratio", ">=", 0.9),
    "gather1000": ("gather1000_ratio", ">=", 0.7),
    "first_gather": ("first_gather_ms", "<", 20.0),
    "actors1000_start": ("actors1000_start_s", "<", 2.0),
    "actors1000_rss": ("actors1000_rss_mb_per_actor", "<", 100 / 1024),
}


@dataclass(frozen=True)
class Mode:
    name: str
    reps: int
    seconds: float  # measured window of each bench
    warmup: float  # unmeasured run of the same bench just before
    sizes: tuple[int, ...]
    cancel_runs: int
    events: int  # events fired in the publish-only bench (a tenth of that as warm-up)


MODES = {
    "full": Mode(
        "full", reps=5, seconds=2.0, warmup=0.5, sizes=GATHER_SIZES, cancel_runs=10, events=50_000
    ),
    "quick": Mode(
        "quick", reps=3, seconds=0.5, warmup=0.3, sizes=GATHER_SIZES, cancel_runs=5, events=20_000
    ),
    "smoke": Mode(
        "smoke", reps=1, seconds=0.15, warmup=0.1, sizes=(10,), cancel_runs=2, events=2_000
    ),
}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fresh_plane() -> str:
    return "bench" + secrets.token_hex(4)


# -- one repetition ------------------------------------------------------------------------------


def spawn_pair(impl: str, url: str, sizes: str, log_dir: Path, rep: int) -> tuple[Worker, Worker]:
    """(responder, client) of one implementation."""
    module = RAW_MODULE if impl == "raw" else ACTORBUS_MODULE
    common = ["--url", url, "--sizes", sizes]
    env = {}
    if impl in NATS_CLIENT:
        common += ["--plane", fresh_plane()]
        env["ACTORBUS_NATS_CLIENT"] = NATS_CLIENT[impl]
    responder = Worker(f"r{rep}-{impl}-responder", module, ["responder", *common], log_dir, env)
    client = Worker(f"r{rep}-{impl}-client", module, ["client", *common], log_dir, env)
    return responder, client


def run_events(responder: Worker, client: Worker, count: int) -> dict[str, Any]:
    """Publish-only: the client fires ``count`` events, the responder's one sink counts them;
    the rate is what the responder received per second (first to last receipt)."""
    for n in (max(count // 10, 2), count):  # warm-up, then measured
        responder.request({"cmd": "events_reset", "count": n}, 10)
        cpu0 = responder.request({"cmd": "cpu"}, 10)["cpu_s"]
        sent = client.request({"cmd": "events", "count": n}, 120)
        got = responder.request({"cmd": "events_wait", "timeout": 30}, 60)
        cpu1 = responder.request({"cmd": "cpu"}, 10)["cpu_s"]
    return {
        "count": count,
        "rate": got["rate"],
        "p50_us": math.nan,
        "p99_us": math.nan,
        "errors": count - int(got["received"]),
        "client_cpu_s": sent["client_cpu_s"],
        "responder_cpu_s": cpu1 - cpu0,
    }


def run_rep(url: str, mode: Mode, rep: int, log_dir: Path) -> Rep:
    """One repetition: impl → bench key → result (plus ``colocated`` and ``memory``)."""
    sizes = ",".join(str(n) for n in mode.sizes)
    order = IMPLS[rep % len(IMPLS) :] + IMPLS[: rep % len(IMPLS)]
    pairs: dict[str, tuple[Worker, Worker]] = {}
    results: dict[str, dict[str, Any]] = {impl: {} for impl in IMPLS}
    try:
        for impl in IMPLS:
            pairs[impl] = spawn_pair(impl, url, sizes, log_dir, rep)
        wait_ready([w for pair in pairs.values() for w in pair], START_TIMEOUT)
        benches: list[tuple[str, dict[str, Any]]] = [("seq", {}), ("pipelined", {})]
        benches += [(f"gather{n}", {"n": n}) for n in mode.sizes]
        for key, extra in benches:
            for impl in order:
                responder, client = pairs[impl]
                command = {
                    "cmd": key.rstrip("0123456789"),
                    "seconds": mode.seconds,
                    "warmup": mode.warmup,
                    **extra,
                }
                cpu0 = responder.request({"cmd": "cpu"}, 10)["cpu_s"]
                result = client.request(command, mode.seconds + mode.warmup + 60)
                result["responder_cpu_s"] = responder.request({"cmd": "cpu"}, 10)["cpu_s"] - cpu0
                results[impl][key] = result
                progress(
                    f"  rep {rep + 1} {key:<10} {impl:<8} {result['rate']:>9,.0f}/s "
                    f"p50 {result['p50_us']:>8,.0f} µs  errors {result['errors']}"
                )
        for impl in order:
            results[impl]["events"] = run_events(*pairs[impl], mode.events)
            progress(
                f"  rep {rep + 1} events     {impl:<8} {results[impl]['events']['rate']:>9,.0f}/s "
                f"received, lost {results[impl]['events']['errors']}"
            )
    finally:
        for pair in pairs.values():
            for worker in pair:
                worker.close()
    with Worker(
        f"r{rep}-colocated",
        ACTORBUS_MODULE,
        ["colocated", "--url", url, "--seconds", str(mode.seconds), "--warmup", str(mode.warmup)],
        log_dir,
    ) as worker:
        both: dict[str, Any] = json.loads(
            worker.wait_for("RESULT ", START_TIMEOUT + 2 * (mode.seconds + mode.warmup))
        )
    for name in ("colocated", "memory"):
        results["actorbus"][name] = both[name]
        progress(
            f"  rep {rep + 1} {name:<10} actorbus {both[name]['rate']:>9,.0f}/s "
            f"p50 {both[name]['p50_us']:>8,.0f} µs"
        )
    return results


# -- cancellation chain --------------------------------------------------------------------------


def run_cancel(url: str, runs: int, log_dir: Path) -> list[float]:
    """Milliseconds from cancelling the call at A until E's handler's ``finally`` ran."""
    plane = fresh_plane()
    hops = [
        Worker(
            f"hop-{letter}",
            ACTORBUS_MODULE,
            ["hop", "--url", url, "--plane", plane, "--index", str(i)],
            log_dir,
        )
        for i, letter in enumerate("abcde")
    ]
    latencies: list[float] = []
    try:
        wait_ready(hops, START_TIMEOUT)
        head, tail = hops[0], hops[-1]
        for run in range(runs + 1):  # the first run warms the chain up and is not counted
            head.request({"cmd": "call"}, 10)
            tail.wait_for("STARTED ", 10)
            time.sleep(0.02)
            t_cancel = float(head.request({"cmd": "cancel"}, 10)["t_cancel"])
            t_finally = float(tail.wait_for("FINALLY ", CANCEL_WAIT))
            if run:
                latencies.append((t_finally - t_cancel) * 1000)
                progress(f"  cancel run {run}: {latencies[-1]:.2f} ms")
            time.sleep(0.05)
    finally:
        for hop in hops:
            hop.close()
    return latencies


# -- figures -------------------------------------------------------------------------------------


def per_rep(reps: list[Rep], fn: Callable[[Rep], float]) -> float:
    """Median over repetitions of ``fn(repetition)``; NaN where a repetition lacks the data."""
    values: list[float] = []
    for rep in reps:
        try:
            values.append(fn(rep))
        except (KeyError, ZeroDivisionError):
            values.append(math.nan)
    return median(values)


def pick(impl: str, key: str, field: str) -> Callable[[Rep], float]:
    def get(rep: Rep) -> float:
        return float(rep[impl][key][field])

    return get


def cpu_per_op(impl: str, key: str, side: str) -> Callable[[Rep], float]:
    def get(rep: Rep) -> float:
        result = rep[impl][key]
        return float(result[f"{side}_cpu_s"]) / int(result["count"]) * 1e6

    return get


def ratio(num: Callable[[Rep], float], den: Callable[[Rep], float]) -> Callable[[Rep], float]:
    def get(rep: Rep) -> float:
        return num(rep) / den(rep)

    return get


def figures(reps: list[Rep], cancel: list[float], mode: Mode) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def both(key: str) -> None:
        for impl in IMPLS:
            for field in ("rate", "p50_us", "p99_us"):
                out[f"{impl}_{key}_{field}"] = per_rep(reps, pick(impl, key, field))
            out[f"{impl}_{key}_errors"] = sum(
                int(r[impl][key]["errors"]) for r in reps if key in r[impl]
            )
            for side in ("client", "responder"):
                out[f"{impl}_{key}_{side}_cpu_us_per_op"] = per_rep(
                    reps, cpu_per_op(impl, key, side)
                )

    def vs_raw(key: str, field: str, impl: str = "actorbus") -> float:
        return per_rep(reps, ratio(pick(impl, key, field), pick("raw", key, field)))

    def ratios(name: str, key: str, field: str) -> None:
        out[name] = vs_raw(key, field)
        out[f"natspy_{name}"] = vs_raw(key, field, "natspy")

    both("seq")
    ratios("unicast_seq_p50_ratio", "seq", "p50_us")
    ratios("unicast_seq_rate_ratio", "seq", "rate")
    both("pipelined")
    ratios("unicast_pipelined_ratio", "pipelined", "rate")
    ratios("unicast_pipelined_p50_ratio", "pipelined", "p50_us")
    both("events")
    ratios("events_ratio", "events", "rate")
    for impl in IMPLS:  # every event fired and never received, over all repetitions
        out[f"{impl}_events_lost"] = out[f"{impl}_events_errors"]
    nats_seq = pick("actorbus", "seq", "rate")
    for name in ("colocated", "memory"):
        out[f"{name}_rate"] = per_rep(reps, pick("actorbus", name, "rate"))
        out[f"{name}_p50_us"] = per_rep(reps, pick("actorbus", name, "p50_us"))
        out[f"{name}_speedup"] = per_rep(reps, ratio(pick("actorbus", name, "rate"), nats_seq))
    for n in GATHER_SIZES:
        key = f"gather{n}"
        if n in mode.sizes:
            both(key)
            ratios(f"{key}_ratio", key, "rate")
            ratios(f"{key}_p50_ratio", key, "p50_us")
        else:
            out[f"{key}_ratio"] = out[f"natspy_{key}_ratio"] = None
    out["cancel_5th_hop_ms"] = median(cancel)
    out["cancel_5th_hop_ms_max"] = max(cancel) if cancel else math.nan
    out["cancel_runs"] = len(cancel)
    return out


def verdicts(out: dict[str, Any]) -> dict[str, bool | None]:
    met: dict[str, bool | None] = {}
    for name, (key, op, bound) in TARGETS.items():
        value = out.get(key)
        if value is None or value != value:
            met[name] = None
        elif op == ">=":
            met[name] = value >= bound
        elif op == "<=":
            met[name] = value <= bound
        else:
            met[name] = value < bound
    return met


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for dist in ("actorbus", "nats-py", "trio", "trio-asyncio", "msgspec"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "?"
    try:
        text = subprocess.run(
            [find_nats_server(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        found["nats-server"] = text.strip().rsplit("v", 1)[-1] or "?"
    except (OSError, subprocess.SubprocessError, RuntimeError):
        found["nats-server"] = "?"
    return found


def clean(value: Any) -> Any:
    """NaN and infinities → None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


# -- the table -----------------------------------------------------------------------------------


def _num(value: Any, fmt: str = ",.0f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:{fmt}}{suffix}"


def table(out: dict[str, Any], mode: Mode, url: str) -> str:
    met = out["meets"]

    def mark(name: str) -> str:
        _, op, bound = TARGETS[name]
        verdict = {True: "ok", False: "MISS", None: "-"}[met[name]]
        return f"{op}{bound:g} {verdict}"

    lines = [
        f"actorbus bench ({mode.name}: {mode.reps} rep(s) x {mode.seconds:g} s windows, "
        f"{PAYLOAD_SIZE} B payloads, nats-server {out['versions']['nats-server']} at {url})",
        "medians over repetitions; ratios per repetition against the raw run next to it",
        "",
        f"{'bench':<22}{'raw nats-py':>26}{'actorbus (native)':>26}{'ratio':>16}"
        f"{'actorbus (nats-py)':>26}{'ratio':>16}   target (native)",
    ]

    def row(label: str, name: str, kind: str, key: str, target: str) -> None:
        cells = []
        for impl in IMPLS:
            rate, p50 = out.get(f"{impl}_{name}_rate"), out.get(f"{impl}_{name}_p50_us")
            cells.append(f"{_num(rate)}/s p50 {_num(p50)} µs")
        native = f"{kind} x{_num(out[key], '.2f')}"
        natspy = f"{kind} x{_num(out[f'natspy_{key}'], '.2f')}"
        lines.append(
            f"{label:<22}{cells[0]:>26}{cells[1]:>26}{native:>16}{cells[2]:>26}{natspy:>16}"
            f"   {target}"
        )

    row("unicast seq (1)", "seq", "p50", "unicast_seq_p50_ratio", mark("unicast_seq_p50"))
    row(
        f"unicast pipelined ({PIPELINE_DEPTH})",
        "pipelined",
        "rate",
        "unicast_pipelined_ratio",
        mark("unicast_pipelined"),
    )
    for n in mode.sizes:
        key = f"gather{n}"
        target = mark(key) if key in TARGETS else "-"
        row(f"gather N={n}", key, "rate", f"{key}_ratio", target)
    row("events (publish-only)", "events", "rate", "events_ratio", mark("events"))
    lines.append(
        f"{'co-located (NATS bus)':<22}{'':>26}"
        f"{_num(out['colocated_rate']) + '/s p50 ' + _num(out['colocated_p50_us']) + ' µs':>26}"
        f"{'x' + _num(out['colocated_speedup'], '.1f') + ' vs seq':>16}   {mark('colocated')}"
    )
    lines.append(
        f"{'memory bus':<22}{'':>26}"
        f"{_num(out['memory_rate']) + '/s p50 ' + _num(out['memory_p50_us']) + ' µs':>26}"
        f"{'x' + _num(out['memory_speedup'], '.1f') + ' vs seq':>16}"
    )
    lines.append(
        f"{'cancel at 5th hop':<22}{'':>26}"
        f"{'p50 ' + _num(out['cancel_5th_hop_ms'], '.1f') + ' ms':>26}"
        f"{'max ' + _num(out['cancel_5th_hop_ms_max'], '.1f') + ' ms':>16}"
        f"   {mark('cancel_5th_hop')}"
    )
    lines += ["", "CPU µs per call/gather (getrusage; compare implementations only):"]
    lines.append(
        f"{'bench':<22}{'raw client':>12}{'raw resp.':>12}{'ab client':>12}{'ab resp.':>12}"
        f"{'natspy cl.':>12}{'natspy resp.':>13}"
    )
    for name in ("seq", "pipelined", *(f"gather{n}" for n in mode.sizes), "events"):
        cells = [
            _num(out.get(f"{impl}_{name}_{side}_cpu_us_per_op"))
            for impl in IMPLS
            for side in ("client", "responder")
        ]
        lines.append(f"{name:<22}" + "".join(f"{c:>12}" for c in cells))
    lines += ["", "scale:"]
    for key in SCALE_KEYS:
        lines.append(f"  {key:<30}{_num(out.get(key), ',.3f'):>14}")
    lost = {impl: out.get(f"{impl}_events_lost") for impl in IMPLS}
    if any(lost.values()):
        where = ", ".join(f"{impl} {n:,}" for impl, n in lost.items() if n)
        lines.append(f"\nLOST EVENTS: {where} fired but never received (a defect, not noise)")
    errors = sum(v for k, v in out.items() if k.endswith("_errors") and v)
    if errors:
        lines.append(f"\nWARNING: {errors} calls/gathers failed or came back incomplete")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[Mode, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="3 short repetitions (< 1 min)")
    group.add_argument("--smoke", action="store_true", help="shape check only: tiny windows")
    parser.add_argument("--reps", type=int, help="override the number of repetitions")
    parser.add_argument("--seconds", type=float, help="override the measured window")
    parser.add_argument("--skip-cancel", action="store_true", help="skip the cancellation chain")
    parser.add_argument("--skip-scale", action="store_true", help="skip the scale benches")
    parser.add_argument("--log-dir", type=Path, help="keep the workers' stderr logs here")
    args = parser.parse_args(argv)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.reps:
        mode = replace(mode, reps=args.reps)
    if args.seconds:
        mode = replace(mode, seconds=args.seconds)
    return mode, args


def main(argv: list[str] | None = None) -> int:
    mode, args = parse_args(argv)
    started = time.monotonic()
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="actorbus-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedServer("127.0.0.1", 0)
    server.start()
    progress(f"nats-server at {server.url} (pid {server.pid}); worker logs in {log_dir}")
    try:
        reps: list[Rep] = []
        for rep in range(mode.reps):
            progress(f"repetition {rep + 1}/{mode.reps}")
            reps.append(run_rep(server.url, mode, rep, log_dir))
        cancel: list[float] = []
        if not args.skip_cancel:
            progress("cancellation chain A→B→C→D→E (5 processes)")
            cancel = run_cancel(server.url, mode.cancel_runs, log_dir)
        scale: dict[str, Any] = dict.fromkeys(SCALE_KEYS)
        if not args.skip_scale:
            scale = run_scale(server.url, mode.name, mode.reps, mode.seconds, mode.warmup, log_dir)
    except (BenchError, RuntimeError) as exc:
        progress(f"benchmark failed: {exc}")
        return 1
    finally:
        url = server.url
        server.stop()
    out: dict[str, Any] = {
        "quick": mode.name == "quick",
        "smoke": mode.name == "smoke",
        "mode": mode.name,
        "reps": mode.reps,
        "window_s": mode.seconds,
        "warmup_s": mode.warmup,
        "payload_bytes": PAYLOAD_SIZE,
        "pipeline_depth": PIPELINE_DEPTH,
        "gather_sizes": list(mode.sizes),
    }
    out.update(figures(reps, cancel, mode))
    out.update(scale)
    out["targets"] = {name: f"{key} {op} {bound:g}" for name, (key, op, bound) in TARGETS.items()}
    out["meets"] = verdicts(out)
    out["versions"] = versions()
    out["elapsed_s"] = round(time.monotonic() - started, 1)
    print(table(out, mode, url))
    print(json.dumps(clean(out), separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
