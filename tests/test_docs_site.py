"""The docs site builds (``mkdocs build --strict``: no broken link or anchor) and its API
reference has an entry for every public name, each with a docstring of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import griffe
import pytest

import actorbus
import actorbus.testing
import actorbus.transport

ROOT = Path(__file__).resolve().parents[1]
#: Each public module and the reference page that documents it.
PUBLIC: list[tuple[ModuleType, str]] = [
    (actorbus, "reference/api.html"),
    (actorbus.transport, "reference/transport.html"),
    (actorbus.testing, "reference/testing.html"),
]


def _mkdocs(*args: str) -> subprocess.CompletedProcess[str]:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [str(mkdocs), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = _mkdocs("build", "--strict", "--site-dir", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _anchors(html: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html))


def test_every_public_name_has_a_reference_entry(site: Path) -> None:
    for module, page in PUBLIC:
        anchors = _anchors((site / page).read_text(encoding="utf-8"))
        missing = [n for n in module.__all__ if f"{module.__name__}.{n}" not in anchors]
        assert not missing, f"{page} has no entry for {missing}: add `::: {module.__name__}.NAME`"


def test_the_front_page_is_the_readme(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Quick start" in index and "A tour" in index
    # the README's links into docs/ point at the site's pages there
    assert 'href="actors.html"' in index and 'href="reference/api.html"' in index


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The strict build is what catches broken links: one planted in a copy of the config fails."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n")
    (docs / "page.md").write_text("# y\n\n[gone](nowhere.md) and [anchor](#nowhere)\n")
    (tmp_path / "mkdocs.yml").write_text(
        (ROOT / "mkdocs.yml").read_text().split("\nnav:")[0].replace("tools/", f"{ROOT}/tools/")
    )
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "'nowhere.md'" in done.stderr and "'#nowhere'" in done.stderr, done.stderr


@cache
def _package() -> griffe.Module:
    found = griffe.load("actorbus", search_paths=[str(ROOT)], resolve_aliases=True)
    assert isinstance(found, griffe.Module)
    return found


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    return obj.final_target if isinstance(obj, griffe.Alias) else obj


def _inherits_a_docstring(cls: griffe.Class, name: str) -> bool:
    """An override documented on a base class (a `Transport` method on `MemoryTransport`)."""
    for base in cls.mro():
        member = base.members.get(name)
        if member is not None and _target(member).docstring:
            return True
    return False


def test_every_public_name_and_method_has_a_docstring() -> None:
    undocumented = []
    for module, _ in PUBLIC:
        mod: griffe.Object | griffe.Alias = _package()
        for part in module.__name__.split(".")[1:]:
            mod = mod[part]
        for name in module.__all__:
            obj = _target(mod[name])
            if not obj.docstring:
                undocumented.append(f"{module.__name__}.{name}")
            if not isinstance(obj, griffe.Class):
                continue
            for member_name, member in obj.members.items():
                if member_name.startswith("_") or not _target(member).is_function:
                    continue
                if not _target(member).docstring and not _inherits_a_docstring(obj, member_name):
                    undocumented.append(f"{module.__name__}.{name}.{member_name}")
    assert not undocumented, f"public names without a docstring: {undocumented}"
