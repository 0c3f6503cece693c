"""Where ``config(...)`` values come from, and their validation.

Sources, highest precedence first:

1. the ``Actor(config={...})`` argument;
2. an environment variable ``ACTORBUS_<HOST>__<NAME>``: the actor's hostname and the attribute
   name, upper-cased, every character other than A-Z and 0-9 turned into ``_``, joined by a
   double underscore. ``files.example``'s ``greeting`` reads ``ACTORBUS_FILES_EXAMPLE__GREETING``;
3. the config file named by ``ACTORBUS_CONFIG`` (``actorbus run --config FILE`` sets it): TOML,
   or YAML when PyYAML is installed, with one table per hostname::

       ["files.example"]
       greeting = "hi"

4. the default given to ``config(...)``.

Every value is converted to the attribute's annotation with msgspec (lax: the string ``"5"``
becomes ``5`` for an ``int``; a string that holds JSON is parsed when the annotation needs it).
A value that does not fit raises `ConfigError`, naming the actor, the key and the problem.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("actorbus.config")

__all__ = [
    "CONFIG_FILE_ENV",
    "ConfigError",
    "env_name",
    "load_file",
    "resolve",
]

CONFIG_FILE_ENV = "ACTORBUS_CONFIG"
_NON_ALNUM = re.compile(r"[^A-Z0-9]")
_cache: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}


class ConfigError(ValueError):
    """A config value (or file) is not usable; the message says which and why."""


def env_name(host: str, name: str) -> str:
    """``files.example``, ``greeting`` → ``ACTORBUS_FILES_EXAMPLE__GREETING``."""
    return f"ACTORBUS_{_NON_ALNUM.sub('_', host.upper())}__{_NON_ALNUM.sub('_', name.upper())}"


def load_file(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a config file: a table (mapping) per hostname. TOML, or YAML with PyYAML."""
    p = Path(path)
    try:
        stamp = p.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"config file {p}: {exc.strerror or exc}") from None
    key = (str(p.resolve()), stamp)
    if key in _cache:
        return _cache[key]
    data = _parse(p)
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a table per hostname at the top level")
    for host, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config file {p}: [{host}] must be a table of key = value")
    _cache[key] = data
    return data


def _parse(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {p}: {exc.strerror or exc}") from None
    if p.suffix.lower() in {".yaml", ".yml"}:
        try:
            import yaml  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise ConfigError(
                f"config file {p}: YAML needs the PyYAML package (pip install pyyaml); or use TOML"
            ) from None
        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p}: {exc}") from None


def _file_table(host: str, env: dict[str, str] | os._Environ[str]) -> tuple[dict[str, Any], str]:
    path = env.get(CONFIG_FILE_ENV)
    if not path:
        return {}, ""
    return dict(load_file(path).get(host, {})), path


def check_hosts(hosts: Iterable[str], env: dict[str, str] | os._Environ[str] | None = None) -> None:
    """A config file table whose hostname no actor of ``hosts`` has: refused (`ConfigError`)
    when it is close to one of them (a typo such as ``biling`` would leave that actor on its
    defaults), else one warning line (a file shared with processes that run other actors)."""
    env = os.environ if env is None else env
    path = env.get(CONFIG_FILE_ENV)
    if not path:
        return
    known = sorted(set(hosts))
    for host in load_file(path):
        if host in known:
            continue
        close = difflib.get_close_matches(str(host), known, n=1, cutoff=0.8)
        if close:
            raise ConfigError(
                f"config file {path}: table [{host}] names no actor here; "
                f"did you mean [{close[0]}]?"
            )
        log.warning("config file %s: table [%s] names no actor of this run (ignored)", path, host)


def annotation_of(spec: Any) -> Any:
    """The attribute's annotation; without one, the type of its default (when not None)."""
    ann = spec.annotation
    if ann is Any and spec.default is not None:
        return type(spec.default)
    return ann


def convert(value: Any, annotation: Any) -> Any:
    """Lax conversion; a string that does not fit directly is tried as JSON."""
    try:
        return msgspec.convert(value, annotation, strict=False)
    except msgspec.ValidationError as first:
        if isinstance(value, str):
            try:
                parsed = msgspec.json.decode(value)
            except msgspec.DecodeError:
                raise first from None
            return msgspec.convert(parsed, annotation, strict=False)
        raise


def resolve(
    cls: type,
    explicit: dict[str, Any] | None = None,
    env: dict[str, str] | os._Environ[str] | None = None,
) -> dict[str, Any]:
    """The validated config values of actor class ``cls`` that differ from the defaults' source.

    Returns ``{name: value}`` for every key that some source sets. Raises `ConfigError`.
    """
    env = os.environ if env is None else env
    host: str = cls.host()  # type: ignore[attr-defined]
    specs: dict[str, Any] = cls._configs  # type: ignore[attr-defined]
    who = f"{cls.__name__} ({host})"
    explicit = dict(explicit or {})
    table, path = _file_table(host, env)
    unknown = sorted(set(explicit) - set(specs))
    if unknown:
        raise ConfigError(f"{who}: unknown config keys {unknown}")
    unknown = sorted(set(table) - set(specs))
    if unknown:
        raise ConfigError(f"{who}: config file {path} sets unknown keys {unknown}")
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        var = env_name(host, name)
        if name in explicit:
            raw, source = explicit[name], "Actor(config=...)"
        elif var in env:
            raw, source = env[var], f"environment variable {var}"
        elif name in table:
            raw, source = table[name], f"config file {path}"
        else:
            continue
        try:
            values[name] = convert(raw, annotation_of(spec))
        except msgspec.ValidationError as exc:
            problem = f"{exc} (got {raw!r})"
            raise ConfigError(f"{who}: config {name!r} from {source}: {problem}") from None
    return values
