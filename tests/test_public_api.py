"""The public surface: ``actorbus.__all__`` against the documented contract."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from pathlib import Path
from typing import Any

import pytest
import trio

import actorbus

PKG = Path(__file__).resolve().parents[1] / "actorbus"

# The names the public contract fixes; users (and acceptance tests) import them from `actorbus`.
CONTRACT = [
    "Actor",
    "Api",
    "endpoint",
    "event",
    "sink",
    "ticker",
    "config",
    "App",
    "Reply",
    "Error",
    "RemoteError",
    "HTTPError",
    "NoResponder",
    "TimeBudgetExceeded",
    "BadRequest",
    "HttpResponse",
]
CONTRACT_ERRORS = [
    "Error",
    "RemoteError",
    "HTTPError",
    "NoResponder",
    "TimeBudgetExceeded",
    "BadRequest",
]


def test_all_is_sorted_and_unique() -> None:
    assert actorbus.__all__ == sorted(actorbus.__all__)
    assert len(set(actorbus.__all__)) == len(actorbus.__all__)


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_name_is_exported(name: str) -> None:
    assert name in actorbus.__all__
    assert getattr(actorbus, name) is not None


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from actorbus import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(actorbus.__all__)


@pytest.mark.parametrize("name", actorbus.__all__)
def test_exported_names_are_public_and_defined_in_private_modules(name: str) -> None:
    assert hasattr(actorbus, name)
    if name == "__version__":
        assert isinstance(actorbus.__version__, str) and actorbus.__version__
        return
    assert not name.startswith("_")
    obj = getattr(actorbus, name)
    # __init__ re-exports only: everything is defined in an underscore module.
    module = getattr(obj, "__module__", None)
    assert module is not None and module.startswith("actorbus._"), (name, module)
    assert getattr(importlib.import_module(module), name) is obj


def test_version_is_exported() -> None:
    assert "__version__" in actorbus.__all__
    assert actorbus.__version__[0].isdigit()


@pytest.mark.parametrize("name", CONTRACT_ERRORS)
def test_contract_errors_are_actorbus_errors(name: str) -> None:
    cls = getattr(actorbus, name)
    assert inspect.isclass(cls) and issubclass(cls, actorbus.Error)


def test_every_exported_exception_is_an_actorbus_error() -> None:
    exceptions = [
        getattr(actorbus, n)
        for n in actorbus.__all__
        if inspect.isclass(getattr(actorbus, n)) and issubclass(getattr(actorbus, n), BaseException)
    ]
    assert len(exceptions) >= len(CONTRACT_ERRORS)
    for exc in exceptions:
        assert issubclass(exc, actorbus.Error), exc


def test_error_is_an_ordinary_exception() -> None:
    """`except Exception` catches it; it is never a Cancelled or a BaseException-only class."""
    assert issubclass(actorbus.Error, Exception)
    assert not issubclass(actorbus.Error, trio.Cancelled)


def test_time_budget_exceeded_is_a_trio_too_slow_error() -> None:
    assert issubclass(actorbus.TimeBudgetExceeded, trio.TooSlowError)
    assert issubclass(actorbus.TimeBudgetExceeded, actorbus.Error)
    with pytest.raises(trio.TooSlowError):
        raise actorbus.TimeBudgetExceeded("the budget ran out")


def test_http_error_carries_its_status() -> None:
    err = actorbus.HTTPError(404, "no such user")
    assert err.status == 404
    assert "no such user" in str(err)


# -- the pytest plugin ------------------------------------------------------------------------


def test_pytest11_entry_point() -> None:
    eps = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "actorbus"]
    assert len(eps) == 1
    assert eps[0].value == "actorbus.testing._plugin"
    plugin = eps[0].load()
    assert plugin is importlib.import_module("actorbus.testing._plugin")
    for fixture in ("app", "nats_url"):  # the contract's fixtures
        assert hasattr(plugin, fixture), fixture


def test_plugin_is_active(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("actorbus")


# -- privacy ----------------------------------------------------------------------------------


def test_modules_are_private() -> None:
    """Public: ``actorbus``, ``actorbus.transport`` and ``actorbus.testing``. Everything else lives
    in a ``_private`` package or module, whatever its own name inside that package."""
    public = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if "__pycache__" in rel.parts or path.name in ("__init__.py", "__main__.py"):
            continue
        if rel.parts[0] == "testing" and len(rel.parts) > 1:
            hidden = path.name.startswith("_")
        else:
            hidden = rel.parts[0].startswith("_")
        if not hidden and str(rel) != "transport.py":
            public.append(str(rel))
    assert not public, f"modules not in __all__ must be underscore-private: {public}"
    packages = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [p for p in packages if not p.startswith("_")] == ["testing"]


def test_testing_is_the_public_helper_package() -> None:
    testing = importlib.import_module("actorbus.testing")
    assert testing.__all__ == sorted(testing.__all__)
    assert "check_transport" in testing.__all__
    for name in testing.__all__:
        assert not name.startswith("_")
        assert callable(getattr(testing, name)), name


def test_transport_authors_api() -> None:
    """What ``App(bus=...)`` accepts and `actorbus.testing.check_transport` checks is public."""
    import actorbus.transport as transport

    for name in ("Transport", "Message", "Subscription", "MemoryBus"):
        assert getattr(actorbus, name) is getattr(transport, name)
    assert transport.__all__ == sorted(transport.__all__)
    for name in transport.__all__:
        assert not getattr(transport, name).__module__.startswith("actorbus.transport")


async def test_app_runs_on_a_public_memory_bus() -> None:
    bus = actorbus.MemoryBus()
    async with actorbus.App(bus=bus) as one, actorbus.App(bus=bus) as two:
        assert isinstance(one.transport, actorbus.Transport)
        assert isinstance(two.transport, actorbus.Transport)
