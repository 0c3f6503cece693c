"""Finding actor classes from ``actorbus run`` arguments.

``MODULE`` (every Actor subclass with a hostname defined in it), ``MODULE:Class[,Class]``,
``path/to/file.py[:Class]``, or a folder: a package (the package and its modules) or a plain
folder of modules such as ``examples/events``. Test modules (``test_*``, ``*_test``,
``conftest``), ``setup``, ``__main__`` and private ``_*`` modules are skipped. A file's folder
goes on ``sys.path`` first, so sibling imports (``from users import Users``) work and a module is
imported once.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from .._runtime.actor import Actor

__all__ = ["TargetError", "import_target", "load_targets"]

_SKIP = ("test_", "conftest", "setup", "__main__")


class TargetError(Exception):
    """A ``MODULE[:Class]`` argument that cannot be imported or names no actor."""


def load_targets(specs: Sequence[str]) -> list[type[Actor]]:
    """``module``, ``module:Class[,Class]``, ``path/file.py[:Class]`` or a folder → classes."""
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    classes: list[type[Actor]] = []
    for spec in specs:
        for cls in _load_one(spec):
            if cls not in classes:
                classes.append(cls)
    return classes


def import_target(where: str) -> list[ModuleType]:
    """The modules a ``MODULE``, ``path/file.py`` or folder argument names, imported."""
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return _import_where(where)


def _load_one(spec: str) -> list[type[Actor]]:
    where, _, names = spec.partition(":")
    if not where:
        raise TargetError(f"{spec!r}: expected MODULE[:Class], a .py file or a folder")
    modules = _import_where(where)
    if names:
        out: list[type[Actor]] = []
        for name in names.split(","):
            found = [getattr(m, name) for m in modules if hasattr(m, name)]
            if not found:
                raise TargetError(f"{spec}: {where} has no attribute {name!r}")
            cls = found[0]
            if not (isinstance(cls, type) and issubclass(cls, Actor)):
                raise TargetError(f"{spec}: {name} is not an Actor subclass")
            cls.host()
            out.append(cls)
        return out
    out = [cls for m in modules for cls in _actors_defined_in(m)]
    if not out:
        raise TargetError(f"{where}: defines no Actor subclass with a hostname")
    return out


def _actors_defined_in(module: ModuleType) -> Iterable[type[Actor]]:
    for value in list(vars(module).values()):
        if (
            isinstance(value, type)
            and issubclass(value, Actor)
            and value is not Actor
            and value.__module__ == module.__name__
            and isinstance(getattr(value, "hostname", None), str)
        ):
            yield value


def _import_where(where: str) -> list[ModuleType]:
    path = Path(where)
    if where.endswith(".py") or os.sep in where or "/" in where or path.is_dir():
        if path.is_dir():
            return _import_folder(path)
        if path.is_file():
            return [_import_file(path)]
        raise TargetError(f"{where}: no such file or folder")
    try:
        return [importlib.import_module(where)]
    except ModuleNotFoundError as exc:
        if exc.name and where.startswith(exc.name):
            raise TargetError(f"{where}: no module named {exc.name!r}") from None
        raise


def _skipped(name: str) -> bool:
    return name.startswith(_SKIP) or name.endswith("_test") or name.startswith("_")


def _import_folder(path: Path) -> list[ModuleType]:
    if (path / "__init__.py").is_file():
        _add_path(path.resolve().parent)
        package = importlib.import_module(path.resolve().name)
        modules = [package]
        for info in pkgutil.iter_modules(package.__path__):
            if not _skipped(info.name):
                modules.append(importlib.import_module(f"{package.__name__}.{info.name}"))
        return modules
    files = sorted(p for p in path.glob("*.py") if not _skipped(p.stem))
    if not files:
        raise TargetError(f"{path}: no Python modules in this folder")
    return [_import_file(p) for p in files]


def _add_path(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _import_file(path: Path) -> ModuleType:
    path = path.resolve()
    _add_path(path.parent)
    name = path.stem
    existing = sys.modules.get(name)
    if existing is None:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
        else:
            if Path(getattr(module, "__file__", "") or "").resolve() == path:
                return module
    elif Path(getattr(existing, "__file__", "") or "").resolve() == path:
        return existing
    unique = f"_actorbus_target_{abs(hash(str(path)))}_{name}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"{path}: cannot import this file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module
