"""``config(...)``: defaults, Actor(config=...), environment variables, a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from actorbus import Actor, App, config, endpoint
from actorbus._runtime.config import ConfigError, env_name, load_file, resolve


class Settings(Actor):
    hostname = "settings.example-1"
    greeting: str = config("hello", doc="shown by /hello")
    retries: int = config(3, doc="how often")
    verbose: bool = config(False, doc="talk more")
    tags: list[str] = config([], doc="labels")

    @endpoint
    async def show(self) -> dict[str, object]:
        return {"g": self.greeting, "r": self.retries, "v": self.verbose, "t": self.tags}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ACTORBUS_"):
            monkeypatch.delenv(key)


def test_env_name_rule() -> None:
    assert env_name("files.example", "greeting") == "ACTORBUS_FILES_EXAMPLE__GREETING"
    assert env_name("settings.example-1", "maxRetries") == "ACTORBUS_SETTINGS_EXAMPLE_1__MAXRETRIES"


def test_defaults_when_nothing_is_set() -> None:
    assert resolve(Settings) == {}
    assert Settings().greeting == "hello"


def test_environment_values_are_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__RETRIES", "7")
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__VERBOSE", "true")
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__TAGS", '["a", "b"]')
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__GREETING", "123")
    assert resolve(Settings) == {
        "retries": 7,
        "verbose": True,
        "tags": ["a", "b"],
        "greeting": "123",
    }


def test_precedence_argument_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('["settings.example-1"]\ngreeting = "file"\nretries = 1\nverbose = true\n')
    monkeypatch.setenv("ACTORBUS_CONFIG", str(conf))
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__RETRIES", "2")
    values = resolve(Settings, {"verbose": False})
    assert values == {"greeting": "file", "retries": 2, "verbose": False}


def test_bad_values_name_actor_key_and_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__RETRIES", "lots")
    with pytest.raises(ConfigError) as info:
        resolve(Settings)
    text = str(info.value)
    assert "Settings (settings.example-1)" in text and "'retries'" in text
    assert "ACTORBUS_SETTINGS_EXAMPLE_1__RETRIES" in text and "int" in text
    with pytest.raises(ConfigError, match="unknown config keys"):
        resolve(Settings, {"nope": 1})


def test_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_file(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_file(tmp_path / "missing.toml")
    typo = tmp_path / "typo.toml"
    typo.write_text('["settings.example-1"]\ngreting = "x"\n')
    monkeypatch.setenv("ACTORBUS_CONFIG", str(typo))
    with pytest.raises(ConfigError, match="greting"):
        resolve(Settings)


def test_yaml_when_pyyaml_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    conf = tmp_path / "c.yaml"
    conf.write_text("settings.example-1:\n  retries: 9\n")
    assert load_file(conf) == {"settings.example-1": {"retries": 9}}


async def test_values_reach_the_running_actor(monkeypatch: pytest.MonkeyPatch, plane: str) -> None:
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__RETRIES", "5")
    async with App(bus="memory", plane=plane) as app:
        await app.add(Settings(config={"greeting": "hi"}))
        shown = await app.client(Settings).show()
    assert shown == {"g": "hi", "r": 5, "v": False, "t": []}


async def test_bad_value_stops_start_up(monkeypatch: pytest.MonkeyPatch, plane: str) -> None:
    monkeypatch.setenv("ACTORBUS_SETTINGS_EXAMPLE_1__VERBOSE", "perhaps")
    async with App(bus="memory", plane=plane) as app:
        with pytest.raises(ConfigError, match="'verbose'"):
            await app.add(Settings())
        assert app.actors == []
