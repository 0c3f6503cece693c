"""The layers of DESIGN.md, kept honest by walking every module's imports with ``ast``.

Every import counts: top-level, inside functions (lazy) and under ``TYPE_CHECKING``.

    edges      _cli, _supervisor, _tracer_ws, __main__, testing/ (helpers: _targets, _trace_term)
    app        _app (the one place that names concrete transports)
    runtime    _actor, _decorators, _subscribe, _publish, _client, _control, _hub, _errors, ...
    transport  _transport (the interface) <- _memory, _nats, _embedded
    protocol   _protocol
    wire       _frames, _subjects
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "actorbus"

WIRE_AND_PROTOCOL = {"_subjects", "_frames", "_protocol"}
TRANSPORT = {"_transport", "_memory", "_nats", "_nats_settings", "_embedded"}
CONCRETE_TRANSPORTS = {"_memory", "_nats", "_nats_settings", "_embedded"}
RUNTIME = {
    "_actor",
    "_decorators",
    "_subscribe",
    "_publish",
    "_replies",
    "_client",
    "_control",
    "_hub",
    "_errors",
    "_trace",
    "_config",
    "_logging",
}
APP = {"_app"}
EDGE_ROOTS = {"_cli", "_supervisor", "_tracer_ws"}  # nothing imports these (but see below)
EDGE_HELPERS = {"_targets", "_trace_term"}  # used by the edges only
EDGES = EDGE_ROOTS | EDGE_HELPERS | {"__main__"}
EDGE_ONLY_LIBRARIES = {"trio_websocket", "h11"}
PLUMBING = {"__init__", "_version"}
ASYNCIO_WORLD = {"nats", "asyncio", "trio_asyncio"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """``actorbus._frames`` → its file, for every module of the package (sub-packages too)."""
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts}


@cache
def _imports(module: str) -> frozenset[str]:
    """Absolute dotted names a module imports (``from x import y`` yields ``x`` and ``x.y``)."""
    path = _modules()[module]
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module:  # ``from . import _x`` names submodules, not the package itself
                found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _internal(module: str) -> set[str]:
    """The actorbus modules (first level below the package: ``_frames``, ``testing``) imported.

    ``import actorbus`` itself counts as ``__init__``.
    """
    out = set()
    for name in _imports(module):
        parts = name.split(".")
        if parts[0] != "actorbus":
            continue
        out.add(parts[1] if len(parts) > 1 else "__init__")
    out.discard(module.split(".")[1] if "." in module else "__init__")
    return out


def _external(module: str) -> set[str]:
    return {name.split(".")[0] for name in _imports(module) if name.split(".")[0] != "actorbus"}


def _short(module: str) -> str:
    """``actorbus._frames`` → ``_frames``; ``actorbus.testing._plugin`` → ``testing``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _top_modules() -> list[str]:
    return [m for m in _modules() if m.count(".") == 1 and not m.startswith("actorbus.testing")]


# -- the walker itself ------------------------------------------------------------------------


def test_the_walker_sees_the_package() -> None:
    mods = _modules()
    for name in ("actorbus", "actorbus._frames", "actorbus._subjects", "actorbus._protocol"):
        assert name in mods
    assert "actorbus.testing._plugin" in mods
    # Relative imports resolve to absolute names (a walker that sees nothing proves nothing).
    assert "actorbus._actor" in _imports("actorbus")
    assert "msgspec" in _external("actorbus._frames")
    assert "trio" in _external("actorbus._app")
    assert "_transport" in _internal("actorbus.testing._conformance")


def test_every_module_belongs_to_a_layer() -> None:
    known = WIRE_AND_PROTOCOL | TRANSPORT | RUNTIME | APP | EDGES | PLUMBING
    unknown = sorted(_short(m) for m in _top_modules() if _short(m) not in known)
    assert not unknown, f"add {unknown} to a layer in tests/test_layers.py (see DESIGN.md)"


# -- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WIRE_AND_PROTOCOL))
def test_wire_and_protocol_import_only_stdlib_and_msgspec(name: str) -> None:
    module = f"actorbus.{name}"
    if module not in _modules():
        pytest.fail(f"{module} is missing")
    foreign = {m for m in _external(module) if m not in sys.stdlib_module_names} - {"msgspec"}
    assert not foreign, f"{module} imports {sorted(foreign)}"
    assert not ({"trio", "asyncio"} & _external(module)), module
    others = _internal(module) - WIRE_AND_PROTOCOL
    assert not others, f"{module} imports actorbus modules {sorted(others)}"


def test_only_nats_module_touches_asyncio_world() -> None:
    offenders = {
        m: sorted(_external(m) & ASYNCIO_WORLD)
        for m in _modules()
        if m != "actorbus._nats" and _external(m) & ASYNCIO_WORLD
    }
    assert not offenders, offenders


def test_runtime_never_names_a_concrete_transport() -> None:
    offenders = {
        m: sorted(_internal(m) & CONCRETE_TRANSPORTS)
        for m in _modules()
        if _short(m) in RUNTIME | WIRE_AND_PROTOCOL and _internal(m) & CONCRETE_TRANSPORTS
    }
    assert not offenders, f"only _app and testing/ may import {sorted(CONCRETE_TRANSPORTS)}"


def test_runtime_does_not_reach_up() -> None:
    """Runtime modules depend on transport, protocol and wire; never on the app or the edges."""
    above = APP | EDGES | {"testing", "__init__"}
    offenders = {
        m: sorted(_internal(m) & above)
        for m in _modules()
        if _short(m) in RUNTIME and _internal(m) & above
    }
    assert not offenders, offenders


def test_transports_depend_only_on_lower_layers() -> None:
    allowed = TRANSPORT | WIRE_AND_PROTOCOL
    offenders = {
        m: sorted(_internal(m) - allowed)
        for m in _modules()
        if _short(m) in TRANSPORT and _internal(m) - allowed
    }
    assert not offenders, offenders


ALLOWED_EDGE_IMPORTS = {("__main__", "_cli"), ("_cli", "_supervisor"), ("_cli", "_tracer_ws")}


def _edge_imports() -> set[tuple[str, str]]:
    return {
        (_short(m), edge)
        for m in _modules()
        for edge in _internal(m) & (EDGE_ROOTS | {"__main__"})
        if _short(m) != edge
    }


def test_nothing_imports_the_edges() -> None:
    offenders = _edge_imports() - ALLOWED_EDGE_IMPORTS
    assert not offenders, sorted(offenders)


def test_supervisor_does_not_import_the_tracer() -> None:
    assert ("_supervisor", "_tracer_ws") not in _edge_imports()


def test_edge_helpers_serve_the_edges_only() -> None:
    offenders = sorted(
        (m, helper)
        for m in _modules()
        for helper in _internal(m) & EDGE_HELPERS
        if _short(m) not in EDGES
    )
    assert not offenders, offenders


def test_websocket_libraries_stay_at_the_edges() -> None:
    offenders = {
        m: sorted(_external(m) & EDGE_ONLY_LIBRARIES)
        for m in _modules()
        if _short(m) not in EDGES and _external(m) & EDGE_ONLY_LIBRARIES
    }
    assert not offenders, offenders


def test_nothing_below_the_edges_imports_testing() -> None:
    offenders = sorted(
        m for m in _modules() if _short(m) not in EDGES | {"testing"} and "testing" in _internal(m)
    )
    assert not offenders, offenders


# -- at run time ------------------------------------------------------------------------------


def test_import_actorbus_stays_out_of_asyncio_world() -> None:
    code = "import json, sys\nimport actorbus\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert "actorbus" in loaded and "trio" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in {"trio_asyncio", "nats"})
    assert not heavy, f"`import actorbus` loads {heavy}; import them lazily inside _nats"
