"""Every console block marked ``<!-- actorbus-http: tested -->`` in README.md, a page of docs/
or an example's README runs as written: its ``actorbus run ... --http HOST:PORT &`` line starts
the actors (on the test's nats-server and plane), then each ``curl`` line must print the JSON
shown."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import trio

from tests.cli.helpers import actorbus_env, running

from .conftest import ingress_url

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*/README.md")),
]
MARK = "<!-- actorbus-http: tested -->"

pytestmark = [pytest.mark.nats, pytest.mark.slow]


def blocks() -> list[tuple[str, list[list[str]], list[list[str]]]]:
    """(where, [argv of each command], [the lines shown under each]) per marked block."""
    found = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() != MARK:
                continue
            assert lines[i + 1].startswith("```console"), f"{doc}:{i + 1}: {MARK} needs a block"
            argvs: list[list[str]] = []
            shown: list[list[str]] = []
            for text in lines[i + 2 :]:
                if text.startswith("```"):
                    break
                if text.startswith("$ "):
                    argvs.append(shlex.split(text[2:].removesuffix("&"), comments=True))
                    shown.append([])
                elif text.strip():
                    shown[-1].append(text)
            found.append((f"{doc.relative_to(ROOT)}:{i + 1}", argvs, shown))
    return found


def test_the_events_example_has_its_curl_block() -> None:
    where = {w.split(":")[0] for w, _, _ in blocks()}
    assert "examples/events/README.md" in where
    commands = [shlex.join(argv) for _, argvs, _ in blocks() for argv in argvs]
    assert (
        'curl -X POST localhost:8080/users.example/delete-user -d \'{"user_id":"u1"}\'' in commands
    )


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("block", blocks(), ids=lambda b: b[0])
async def test_documented_curl_lines(
    block: tuple[str, list[list[str]], list[list[str]]], nats_url: str, plane: str
) -> None:
    where, argvs, shown = block
    run, *curls = argvs
    assert run[:2] == ["actorbus", "run"] and "--http" in run, f"{where}: start with actorbus run"
    address = run[run.index("--http") + 1]
    as_written = _port_free(int(address.rpartition(":")[2]))
    if not as_written:  # another program has the port: the same lines on a free one
        run[run.index("--http") + 1] = "127.0.0.1:0"
    extra = ["--nats", nats_url, "--plane", plane, "--trace-ws", "off"]
    async with running(*run[2:], *extra, env=actorbus_env(), ready=True) as proc:
        url = (await ingress_url(proc)).removeprefix("http://")
        for argv, lines in zip(curls, shown[1:], strict=True):
            assert argv[0] == "curl", f"{where}: {shlex.join(argv)}"
            if not as_written:
                argv = [a.replace(address, url) if a.startswith(address) else a for a in argv]
            with trio.fail_after(60):
                done = await trio.run_process(
                    argv, capture_stdout=True, capture_stderr=True, check=False,
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
            out = done.stdout.decode()
            context = f"{where}: {shlex.join(argv)}\n{out}{done.stderr.decode()}"
            assert done.returncode == 0, context
            assert json.loads(out) == json.loads("\n".join(lines)), context
