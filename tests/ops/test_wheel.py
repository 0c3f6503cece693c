"""The package builds as a wheel whose fresh install runs the demo: ``python -m build``, a new
virtualenv, ``pip install`` of the wheel alone, then ``python -m examples.events`` from a folder
that holds only the examples (so actorbus comes from the wheel, not from this checkout)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.nats]


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith("ACTORBUS_")}
    env.pop("NATS_URL", None)
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_built_wheel_installs_and_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], ROOT, 600)
    (wheel,) = dist.glob("actorbus-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 120)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, 600)
    app = tmp_path / "app"
    shutil.copytree(
        ROOT / "examples", app / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    where = _run([str(python), "-c", "import actorbus; print(actorbus.__file__)"], app, 60)
    assert str(venv) in where.stdout and str(ROOT / "actorbus") not in where.stdout
    demo = _run([str(python), "-m", "examples.events"], app, 120)
    assert "files.example" in demo.stdout, demo.stdout
    help_text = _run([str(venv / "bin" / "actorbus"), "run", "--help"], app, 60).stdout
    assert "--health" in help_text and "--reload" in help_text
