"""The pytest example of docs/testing.md, copied as written into an empty project (no pytest
configuration at all) and run there: the plugin's async fixtures work without trio_mode."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import trio

PAGE = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def documented_test_file() -> str:
    match = re.search(r"```python\n(# test_users\.py\n.*?)```", PAGE.read_text(), re.S)
    assert match, "docs/testing.md lost its test_users.py example"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.nats
async def test_documented_example_passes_in_a_new_project(tmp_path: Path) -> None:
    (tmp_path / "test_users.py").write_text(documented_test_file())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTORBUS_", "PYTEST_"))}
    env.pop("NATS_URL", None)
    with trio.fail_after(120):
        done = await trio.run_process(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_users.py"],
            cwd=tmp_path,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, out
    assert "3 passed" in out, out
    assert "rootdir: " + str(tmp_path) in out, out  # no configuration of ours was picked up
