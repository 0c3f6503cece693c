"""``config(...)``: a configurable attribute of an actor, with its default and its doc."""

from __future__ import annotations

import typing
from typing import Any, Generic, TypeVar, overload

__all__ = ["ConfigSpec", "config"]

T = TypeVar("T")


class ConfigSpec(Generic[T]):
    """A configurable attribute: ``greeting: str = config("hello", doc="...")``."""

    def __init__(self, default: T, doc: str = "") -> None:
        self.default = default
        self.doc = doc
        self.name = ""
        self.owner: type | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner

    @property
    def annotation(self) -> Any:
        if self.owner is None:
            return Any
        try:
            return typing.get_type_hints(self.owner).get(self.name, Any)
        except Exception:
            return Any

    @overload
    def __get__(self, instance: None, owner: type) -> ConfigSpec[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        values: dict[str, Any] = getattr(instance, "_config_values", {})
        return values.get(self.name, self.default)


def config(default: T, *, doc: str = "") -> T:
    """Declare a config value with its default; typed as the value for the class body."""
    return ConfigSpec(default, doc)  # type: ignore[return-value]
