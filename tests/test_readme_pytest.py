"""The README's pytest example, copied as written into an empty project (no pytest
configuration at all) and run there: the plugin's async fixtures work without trio_mode."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import trio

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_test_file() -> str:
    section = README.read_text().split("## Testing your actors", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(# test_users\.py\n.*?)```", section, re.S)
    assert match, "the README's testing section lost its test_users.py example"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.nats
async def test_readme_example_passes_in_a_new_project(tmp_path: Path) -> None:
    (tmp_path / "test_users.py").write_text(readme_test_file())
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
