"""Every ``$ actorbus ...`` line of a console block marked ``<!-- actorbus-cli: tested -->`` in
README.md, a page of docs/ or an example's README runs against one ``actorbus run`` of the
examples, in document order, and must give the output shown: a renamed endpoint or a changed
reply fails here.

Output lines shown under a ``call`` or ``describe`` are its stdout (JSON compared as values);
a line ``actorbus: ...`` is its stderr, with ``(exit status N)``; other commands must exit 0.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .helpers import actorbus, actorbus_env, running

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").glob("*/README.md")),
]
EXAMPLES = ["examples/supervised", "examples/events", "examples/hello", "examples/calculator"]
MARK = "<!-- actorbus-cli: tested -->"
_EXIT = re.compile(r"\s*\(exit status (\d+)\)\s*$")

pytestmark = [pytest.mark.nats, pytest.mark.slow]


@dataclass
class Command:
    where: str
    argv: list[str]
    shown: list[str] = field(default_factory=list)


def documented_commands() -> list[Command]:
    commands: list[Command] = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() != MARK:
                continue
            assert lines[i + 1].startswith("```console"), f"{doc}:{i + 1}: {MARK} needs a block"
            for j in range(i + 2, len(lines)):
                text = lines[j]
                if text.startswith("```"):
                    break
                if text.startswith("$ "):
                    argv = shlex.split(text[2:], comments=True)
                    assert argv[0] == "actorbus", f"{doc}:{j + 1}: not an actorbus command"
                    commands.append(Command(f"{doc.relative_to(ROOT)}:{j + 1}", argv[1:]))
                elif commands and text.strip():
                    commands[-1].shown.append(text)
    return commands


def test_the_marked_blocks_are_found() -> None:
    commands = documented_commands()
    where = {c.where.split(":")[0] for c in commands}
    assert {"docs/cli.md", "examples/events/README.md", "examples/supervised/README.md"} <= where
    assert {c.argv[0] for c in commands} >= {"call", "describe", "ping"}


def _same(shown: list[str], out: str) -> bool:
    got = out.strip().splitlines()
    if len(shown) == 1 and len(got) == 1:
        try:
            return bool(json.loads(shown[0]) == json.loads(got[0]))
        except ValueError:
            pass
    return [line.rstrip() for line in got] == [line.rstrip() for line in shown]


async def test_documented_command_lines(nats_url: str, plane: str) -> None:
    commands = documented_commands()
    env = actorbus_env(NATS_URL=nats_url, ACTORBUS_PLANE=plane)
    async with running(*EXAMPLES, env=env):
        for command in commands:
            done = await actorbus(*command.argv, env=env)
            out, err = done.stdout.decode(), done.stderr.decode()
            context = f"{command.where}: actorbus {shlex.join(command.argv)}\n{out}{err}"
            errors = [line for line in command.shown if line.startswith("actorbus: ")]
            if errors:
                (line,) = errors
                match = _EXIT.search(line)
                assert match, f"{command.where}: say the exit status of an error line"
                assert done.returncode == int(match[1]), context
                assert err.strip() == _EXIT.sub("", line), context
                continue
            assert done.returncode == 0, context
            if command.argv[0] in ("call", "describe") and command.shown:
                assert _same(command.shown, out), context
