"""Schema → source without a server: generated API modules import, describe themselves exactly
as the hosts they were written from, and `drift` names each difference in one line."""

from __future__ import annotations

import copy
import enum
import importlib.util
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import msgspec
import pytest

from actorbus import Actor, endpoint, event
from actorbus._cli.stubdrift import drift
from actorbus._cli.stubgen import api_class_name, generate
from actorbus._cli.stubs import declared_descriptions
from actorbus._runtime.api import is_api
from actorbus._runtime.description import describe_actor
from examples.calculator.calculator import Calculator
from examples.events.sinks import Files
from examples.events.users import Users


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A point on the map.

    Second paragraph."""

    x: int
    y: float = 1.5
    tags: list[str] = []
    seen: set[int] = msgspec.field(default_factory=set)
    klass: int = msgspec.field(default=0, name="class")


class Circle(msgspec.Struct, tag=True):
    r: float


class Square(msgspec.Struct, tag=True):
    side: float


class Shapes(Actor):
    """Every kind of type the schemas carry."""

    hostname = "shapes.stub-test"

    @endpoint("GET /points", port=444)
    async def points(
        self,
        p: Point,
        c: Color,
        mode: Literal["a", "b"],
        blob: bytes,
        key: uuid.UUID,
        pair: tuple[int, str],
        by_name: dict[str, Point] = {},  # noqa: B006 - a stub's default, never mutated
        limit: int | None = None,
        ids: set[int] = set(),  # noqa: B006
        shape: Circle | Square | None = None,
        anything: Any = None,
    ) -> list[Point]:
        """Points near p."""
        return []

    @event("PUT /moved", port=418)
    async def on_moved(self, p: Point) -> None: ...


def described(*actors: Actor) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(describe_actor(a)) for a in actors]


def load(source: str, where: Path, name: str) -> ModuleType:
    path = where / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def api_classes(module: ModuleType) -> list[type[Any]]:
    return [v for v in vars(module).values() if isinstance(v, type) and is_api(v)]


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("calc.accept", "CalcAcceptApi"),
        ("users.example", "UsersExampleApi"),
        ("my-svc_v2.example", "MySvcV2ExampleApi"),
        ("9lives.example", "Host9livesExampleApi"),
    ],
)
def test_class_names_come_from_the_hostname(host: str, name: str) -> None:
    assert api_class_name(host) == name


def test_a_generated_module_describes_itself_as_its_hosts(tmp_path: Path) -> None:
    hosts = described(Users(), Shapes(), Calculator())
    module = load(generate(hosts, "actorbus stubs x"), tmp_path, "stub_roundtrip")
    classes = {c.__name__: c for c in api_classes(module)}
    assert set(classes) == {"UsersExampleApi", "ShapesStubTestApi", "CalculatorExampleApi"}
    assert drift("stub_roundtrip", declared_descriptions(list(classes.values())), hosts) == []
    users = classes["UsersExampleApi"]
    assert users.hostname == "users.example"
    assert set(users._endpoints) == {"register", "delete_user"}
    assert set(users._events) == {"on_allow_register", "on_registered", "on_user_deleted"}
    assert users._events["on_user_deleted"].spec.func.__doc__ == (
        "Told after a user was deleted; each sink answers how many records it purged."
    )
    point = module.Point(x=1)  # a Struct named as the host named it, docstring carried over
    assert (point.y, point.tags, point.seen, point.class_) == (1.5, [], set(), 0)
    assert "A point on the map." in (module.Point.__doc__ or "")
    assert msgspec.json.encode(module.Circle(2.0)) == b'{"type":"Circle","r":2.0}'


def test_sinks_are_not_part_of_an_api(tmp_path: Path) -> None:
    module = load(generate(described(Files()), "actorbus stubs files.example"), tmp_path, "s2")
    (files,) = api_classes(module)
    assert files.hostname == "files.example" and files._handlers == ()


@pytest.mark.slow
def test_a_generated_module_is_mypy_clean(tmp_path: Path) -> None:
    path = tmp_path / "stub_typed.py"
    path.write_text(generate(described(Users(), Shapes(), Calculator()), "actorbus stubs x"))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _handler(descs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(h for d in descs for h in d["handlers"] if h["name"] == name)


def test_drift_names_each_difference() -> None:
    declared = described(Users())
    assert drift("m", declared, described(Users())) == []
    running = copy.deepcopy(declared)
    _handler(running, "delete_user")["arguments"]["properties"]["user_id"] = {"type": "integer"}
    _handler(running, "register")["path"] = "/sign-up"
    _handler(running, "on_registered")["returns"] = {"type": "boolean"}
    extra = copy.deepcopy(_handler(running, "delete_user"))
    extra.update(name="suspend", path="/suspend")
    running[0]["handlers"].append(extra)
    running[0]["handlers"] = [h for h in running[0]["handlers"] if h["name"] != "on_allow_register"]
    assert sorted(drift("m", declared, running)) == sorted(
        [
            "users.example: endpoint suspend (POST :443/suspend) is not in m",
            "users.example: event on_allow_register (POST :417/on-allow-register) is no longer "
            "served",
            "users.example: register: m has endpoint POST :443/register, the host serves endpoint "
            "POST :443/sign-up",
            "users.example: delete_user: argument 'user_id': string in m, integer on the bus",
            "users.example: on_registered: returns: null in m, boolean on the bus",
        ]
    )
    assert drift("m", declared, []) == ["users.example: declared in m, but no running host answers"]


def test_drift_sees_required_and_renamed_arguments_and_nested_types() -> None:
    declared = described(Shapes())
    running = copy.deepcopy(declared)
    points = _handler(running, "points")
    points["arguments"]["required"].append("limit")
    points["$defs"]["Point"]["properties"]["x"] = {"type": "string"}
    points["arguments"]["properties"]["mode"]["enum"] = ["a"]
    points["arguments"]["properties"]["ids"]["default"] = [1]
    assert drift("m", declared, running) == [
        "shapes.stub-test: points: argument 'p.x': integer in m, string on the bus",
        "shapes.stub-test: points: argument 'mode': 'a' | 'b' in m, 'a' on the bus",
        "shapes.stub-test: points: argument 'by_name{}.x': integer in m, string on the bus",
        "shapes.stub-test: points: argument 'limit' is optional in m, not on the bus",
        "shapes.stub-test: points: argument 'ids': default [] in m, default [1] on the bus",
        "shapes.stub-test: points: returns [].x: integer in m, string on the bus",
    ]
    renamed = copy.deepcopy(declared)
    props = _handler(renamed, "points")["arguments"]["properties"]
    props["point"] = props.pop("p")
    (line,) = drift("m", declared, renamed)
    assert line.startswith("shapes.stub-test: points: arguments ['p', 'c'")
