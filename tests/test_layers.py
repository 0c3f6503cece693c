"""The layers, derived from the packages and kept honest by walking every module's imports.

    edges      actorbus._cli  (command line, supervisor, targets)   actorbus.__main__
               actorbus._tracer (websocket server, terminal view)   actorbus.testing
               actorbus._ingress (the HTTP ingress: ASGI app on hypercorn)
    app        actorbus._app (the one place that names concrete transports)
    runtime    actorbus._runtime
    transport  actorbus._transport
    wire       actorbus._wire (pure: stdlib and msgspec only)

A module may import its own package and the packages of lower levels, never a higher or a
sibling one. Every import counts: top-level, inside functions (lazy) and under ``TYPE_CHECKING``.
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
MAX_LINES = 500

#: Lowest first. Units on one level may not import each other, except where ``EXTRA`` says.
LEVELS: list[set[str]] = [
    {"_version", "_excgroups"},
    {"_wire"},
    {"_transport"},
    {"_runtime"},
    {"transport"},
    {"_app"},
    {"__init__"},
    {"_tracer", "_ingress", "testing"},
    {"_cli"},
    {"__main__"},
]
#: The command line starts the live tracer and hands it to the supervisor.
EXTRA = {("_cli", "_tracer")}
ASYNCIO_WORLD = {"nats", "asyncio", "trio_asyncio"}
ASYNCIO_MODULES = {"actorbus._transport.natspy"}
EDGE_ONLY_LIBRARIES = {"trio_websocket", "h11", "hypercorn"}
EDGE_UNITS = {"_tracer", "_cli", "_ingress"}
CONCRETE_TRANSPORTS = {
    "memory",
    "natspy",
    "native",
    "natsconn",
    "natsproto",
    "nativestate",
    "reconnect",
    "embedded",
    "settings",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """``actorbus._wire.frames`` → its file, for every module of the package."""
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
            if node.module:  # ``from . import x`` names submodules, not the package itself
                found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _unit(dotted: str) -> str:
    """A module's layer unit: ``actorbus._wire.frames`` → ``_wire``, ``actorbus`` → ``__init__``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _level(unit: str) -> int:
    for i, units in enumerate(LEVELS):
        if unit in units:
            return i
    raise KeyError(unit)


def _internal(module: str) -> set[str]:
    """The units (``_wire``, ``_app`` …) a module imports, its own unit left out."""
    own = _unit(module)
    return {_unit(n) for n in _imports(module) if n.split(".")[0] == "actorbus"} - {own}


def _external(module: str) -> set[str]:
    return {name.split(".")[0] for name in _imports(module) if name.split(".")[0] != "actorbus"}


# -- the walker itself ------------------------------------------------------------------------


def test_the_walker_sees_the_package() -> None:
    mods = _modules()
    for name in ("actorbus", "actorbus._wire.frames", "actorbus._wire.subjects"):
        assert name in mods
    assert "actorbus.testing._plugin" in mods
    assert "actorbus._runtime.actor" in _imports("actorbus")
    assert "msgspec" in _external("actorbus._wire.frames")
    assert "trio" in _external("actorbus._app")
    assert "_transport" in _internal("actorbus.testing._conformance")
    assert "_wire" in _internal("actorbus._runtime.caller")


def test_every_module_belongs_to_a_layer() -> None:
    unknown = set()
    for m in _modules():
        try:
            _level(_unit(m))
        except KeyError:
            unknown.add(_unit(m))
    assert not unknown, f"put {sorted(unknown)} in a layer package (see docs/design.md)"


# -- the rules --------------------------------------------------------------------------------


def test_imports_point_down_only() -> None:
    offenders = {}
    for m in _modules():
        own = _level(_unit(m))
        bad = sorted(u for u in _internal(m) if _level(u) >= own and (_unit(m), u) not in EXTRA)
        if bad:
            offenders[m] = bad
    assert not offenders, f"imports that point up or sideways: {offenders}"


def test_wire_is_pure() -> None:
    for m in _modules():
        if _unit(m) != "_wire":
            continue
        foreign = {x for x in _external(m) if x not in sys.stdlib_module_names} - {"msgspec"}
        assert not foreign, f"{m} imports {sorted(foreign)}"
        assert not ({"trio", "asyncio", "socket", "threading"} & _external(m)), m


def test_only_the_natspy_client_touches_asyncio_world() -> None:
    offenders = {
        m: sorted(_external(m) & ASYNCIO_WORLD)
        for m in _modules()
        if m not in ASYNCIO_MODULES and _external(m) & ASYNCIO_WORLD
    }
    assert not offenders, offenders


def test_runtime_never_names_a_concrete_transport() -> None:
    offenders = sorted(
        (m, n)
        for m in _modules()
        if _unit(m) == "_runtime"
        for n in _imports(m)
        if n.startswith("actorbus._transport.") and n.split(".")[2] in CONCRETE_TRANSPORTS
    )
    assert not offenders, f"only _app, the edges and testing/ name concrete transports: {offenders}"


def test_websocket_libraries_stay_at_the_edges() -> None:
    offenders = {
        m: sorted(_external(m) & EDGE_ONLY_LIBRARIES)
        for m in _modules()
        if _unit(m) not in EDGE_UNITS and _external(m) & EDGE_ONLY_LIBRARIES
    }
    assert not offenders, offenders


def test_supervisor_does_not_import_the_tracer() -> None:
    assert "_tracer" not in {_unit(n) for n in _imports("actorbus._cli.supervisor")}


def test_the_ingress_calls_through_the_public_runtime() -> None:
    """The ingress knows no subjects and no transport: it calls through an App's caller."""
    for m in _modules():
        if _unit(m) == "_ingress":
            names = _imports(m)
            assert "_transport" not in _internal(m), m
            assert not any(
                n.startswith("actorbus._wire.subjects.") and not n.endswith(".validate_hostname")
                for n in names
            ), m


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_over_the_line_limit(module: str) -> None:
    lines = len(_modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (limit {MAX_LINES}); split it by concern"


def _package(module: str) -> str:
    return module.rsplit(".", 1)[0]


def _siblings(module: str) -> set[str]:
    """The modules of its own package that ``module`` imports (however: lazily, under
    ``TYPE_CHECKING``, ``from . import x``)."""
    mods, pkg = _modules(), _package(module)
    out: set[str] = set()
    for name in _imports(module):
        for candidate in (name, name.rsplit(".", 1)[0]):
            if candidate in mods and candidate != module and _package(candidate) == pkg:
                if candidate != pkg:  # the package's own __init__ is its face, not a sibling
                    out.add(candidate)
                break
    return out


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from ``start`` back to itself, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_circle_inside_a_package() -> None:
    """Inside each package too, imports point one way: a type-only import back is still a
    dependency back (give the lower module a narrow Protocol of what it needs instead)."""
    graph = {m: _siblings(m) for m in _modules()}
    circles = [c for m in sorted(graph) if (c := _cycle_from(m, graph))]
    assert not circles, "import circle: " + " -> ".join(circles[0])


def test_the_circle_check_can_fail() -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}
    assert _cycle_from("p.a", graph) == ["p.a", "p.b", "p.c", "p.a"]
    assert _cycle_from("p.a", {"p.a": {"p.b"}, "p.b": set()}) is None
    assert "actorbus._runtime.caller" in _siblings("actorbus._runtime.actor")


def test_the_rules_can_fail() -> None:
    """A fake upward import is caught (a walker that sees nothing proves nothing)."""
    assert _level("_wire") < _level("_runtime") < _level("_app") < _level("_cli")
    assert "_runtime" in _internal("actorbus._app")


# -- at run time ------------------------------------------------------------------------------


def test_import_actorbus_stays_out_of_asyncio_world() -> None:
    code = "import json, sys\nimport actorbus\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert "actorbus" in loaded and "trio" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in {"trio_asyncio", "nats", "asyncio"})
    assert not heavy, f"`import actorbus` loads {heavy}; import them lazily inside natspy"


def test_native_nats_client_stays_out_of_asyncio_world() -> None:
    """The default NATS client (and the App that picks it) never loads asyncio-side modules."""
    code = (
        "import json, sys\nimport actorbus._transport.native, actorbus._app\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert "actorbus._transport.native" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in {"trio_asyncio", "nats", "asyncio"})
    assert not heavy, f"the native client loads {heavy}"
