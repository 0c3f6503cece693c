"""End to end, as an operator would: ``actorbus run --otel --metrics`` with ``actorbus trace``
attached; a call made by ``actorbus call`` is one tree in the live tracer, the OTel console
exporter prints the same ids, /metrics scrapes, and the trace client says when the tracer goes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from .helpers import Running, actorbus, actorbus_env, run_args, running

pytestmark = [pytest.mark.nats, pytest.mark.slow]

OBS_ACTORS = str(Path(__file__).parent / "obs_actors.py")


async def scrape(port: int) -> str:
    """GET /metrics over a plain socket (the response ends when the server closes)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


def metric(text: str, name: str, **labels: str) -> float:
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    assert seen, f"no {name} {labels} in:\n{text}"
    return total


async def test_one_tree_otel_ids_metrics_and_tracer_gone(nats_url: str, plane: str) -> None:
    env = actorbus_env(OTEL_TRACES_EXPORTER="console", OTEL_BSP_SCHEDULE_DELAY="50")
    args = run_args(
        nats_url, plane, "--trace-ws", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--otel",
        target=OBS_ACTORS,
    )  # fmt: skip
    with trio.fail_after(90):
        async with running(*args, env=env) as run, trio.open_nursery() as nursery:
            await run.wait_stderr("live tracer on ws://")
            await run.wait_stderr("/metrics")
            trace_port = int(re.findall(r"tracer on http://127\.0\.0\.1:(\d+)", run.stderr)[0])
            metrics_port = int(re.findall(r"metrics on http://127\.0\.0\.1:(\d+)", run.stderr)[0])

            proc = await trio.lowlevel.open_process(
                [
                    sys.executable,
                    "-m",
                    "actorbus",
                    "trace",
                    "--json",
                    f"ws://127.0.0.1:{trace_port}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=actorbus_env(),
            )
            trace = Running(proc)
            nursery.start_soon(trace._read, proc.stdout, False)
            nursery.start_soon(trace._read, proc.stderr, True)
            nursery.start_soon(trace._watch_exit)
            await trace.wait_stdout('"notice":"hello"')

            # Until the actors' hub has heard the tracer, their spans reach only OTel: ping
            # until a ping shows in the live trace (a bounded condition loop, no sleeps).
            def traced(path: str) -> list[dict[str, Any]]:
                return [
                    span
                    for line in trace.stdout
                    if '"span_id"' in line
                    for span in [json.loads(line)]
                    if span["path"] == path
                ]

            bus = ("--nats", nats_url, "--plane", plane)
            while not traced("/ping"):
                done = await actorbus("ping", "accounts.obs.test", *bus)
                assert done.returncode == 0, done.stderr

            done = await actorbus("call", "accounts.obs.test/register", "name=ann", *bus)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout) == 2

            # The live tracer: one tree rooted at the server span, the sinks under it.
            while len(traced("/on-registered")) < 4:  # two event client spans, two sinks
                await trace.wait_stdout("on-registered")
                await trace._changed.wait()
            # The root is the server's span, or the caller's when `actorbus call` had already
            # heard the tracer (then the server's span is its child): one tree either way.
            register = traced("/register")
            (server,) = [s for s in register if s["side"] == "server"]
            (root,) = [s for s in register if s["parent_id"] is None]
            assert root["from_host"] == "cli.actorbus" and root["trace_id"] == server["trace_id"]
            assert root is server or server["parent_id"] == root["span_id"]
            tree = [s for s in traced("/on-registered") if s["trace_id"] == root["trace_id"]]
            events = [s for s in tree if s["kind"] == "event"]
            sinks = [s for s in tree if s["kind"] == "sink"]
            assert len(events) == 2 and all(e["parent_id"] == server["span_id"] for e in events)
            assert {s["parent_id"] for s in sinks} == {e["span_id"] for e in events}
            assert {s["to_host"] for s in sinks} == {"mailer.obs.test", "ledger.obs.test"}

            # The OTel console exporter printed the same spans, with the same ids.
            for span in [server, *tree]:
                await run.wait_stdout(f'"span_id": "0x{span["span_id"]}"')
            await run.wait_stdout(f'"trace_id": "0x{root["trace_id"]}"')

            # Prometheus: the named series, scraped over HTTP.
            text = await scrape(metrics_port)
            assert metric(
                text, "actorbus_requests_total",
                side="handler", host="accounts.obs.test", path="/register", status="200",
            ) == 1  # fmt: skip
            assert metric(text, "actorbus_request_duration_seconds_count", path="/register") == 1
            assert metric(text, "actorbus_requests_total", side="handler", port="417") == 2
            assert metric(text, "actorbus_events_fired_total", path="/on-registered") == 1
            assert metric(text, "actorbus_sink_replies_total", path="/on-registered") == 2
            assert metric(text, "actorbus_handlers_in_flight", host="mailer.obs.test") == 0
            assert metric(text, "actorbus_nats_bytes_in_total") > 0
            assert metric(text, "actorbus_nats_bytes_out_total") > 0
            assert metric(text, "actorbus_nats_reconnects_total") == 0

            # The tracer goes away with `actorbus run`: the trace client says so, exit 5.
            run.signal(signal.SIGTERM)
            assert await trace.wait() == 5
            assert "the live tracer at ws://127.0.0.1:" in trace.stderr
            assert "went away" in trace.stderr and "Traceback" not in trace.stderr
            assert len(trace.stderr.strip().splitlines()) == 1


async def test_each_worker_serves_its_own_metrics(nats_url: str, plane: str) -> None:
    args = run_args(nats_url, plane, "--workers", "2", "--metrics", "127.0.0.1:0")
    with trio.fail_after(90):
        async with running(*args) as run:
            await run.wait_stderr("Prometheus metrics on http://", count=2)
            ports = [
                int(p) for p in re.findall(r"metrics on http://127\.0\.0\.1:(\d+)", run.stderr)
            ]
            assert len(set(ports)) == 2
            bus = ("--nats", nats_url, "--plane", plane)
            for name in ("a", "b", "c", "d"):
                done = await actorbus("call", "slow.cli.test/hello", f"name={name}", *bus)
                assert done.returncode == 0, done.stderr
            texts = [await scrape(port) for port in ports]
    served = [
        metric(t, "actorbus_requests_total", side="handler", path="/hello")
        if 'path="/hello"' in t
        else 0.0
        for t in texts
    ]
    assert sum(served) == 4


def test_worker_metrics_ports_are_consecutive() -> None:
    from actorbus._cli.supervisor import worker_metrics

    assert worker_metrics(None, 3) == []
    assert worker_metrics(("0.0.0.0", 9464), 0) == ["--metrics", "0.0.0.0:9464"]
    assert worker_metrics(("0.0.0.0", 9464), 2) == ["--metrics", "0.0.0.0:9466"]
    assert worker_metrics(("::1", 9464), 1) == ["--metrics", "[::1]:9465"]
    assert worker_metrics(("127.0.0.1", 0), 1) == ["--metrics", "127.0.0.1:0"]


@pytest.mark.parametrize(
    ("extra", "env", "expected"),
    [
        (("--metrics", "nowhere"), {}, "--metrics 'nowhere': expected HOST:PORT"),
        (("--otel",), {"OTEL_TRACES_EXPORTER": "nope"}, "OTEL_TRACES_EXPORTER=nope: no such"),
    ],
)
async def test_bad_observability_options_are_one_line(
    extra: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    done = await actorbus("run", OBS_ACTORS, "--trace-ws", "off", *extra, env=actorbus_env(**env))
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.startswith("actorbus: " + expected) and len(err.strip().splitlines()) == 1, err
