"""Handler signatures: the msgspec types of a handler's arguments and return value, and their
JSON Schemas. Resolved lazily, so forward references work once their module has imported."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from .._wire import frames as _frames
from .errors import BadRequest

__all__ = ["Signature", "UnresolvedHint", "json_schema", "resolve_hints", "type_name"]


class UnresolvedHint(TypeError):
    """A type hint names something that does not exist (yet): a typo or a forward reference.

    Checks made while a module is still importing defer this one; it is final once the class
    is instantiated.
    """


def type_name(hint: Any) -> str:
    return getattr(hint, "__qualname__", None) or repr(hint)


def resolve_hints(func: Callable[..., Any], names: list[str]) -> dict[str, Any]:
    """The resolved type hints of ``names`` (parameters or ``return``) of ``func``; a TypeError
    naming the hint that fails."""
    annotations = getattr(func, "__annotations__", {})
    globalns = getattr(func, "__globals__", {})
    hints: dict[str, Any] = {}
    for name in names:
        if name not in annotations:
            continue
        hint = annotations[name]
        what = "the return annotation" if name == "return" else f"parameter {name!r}"
        probe = types.SimpleNamespace(__annotations__={name: hint})
        try:
            hints[name] = typing.get_type_hints(probe, globalns=globalns)[name]
        except NameError as exc:
            raise UnresolvedHint(
                f"{func.__qualname__}: {what}: type hint {hint!r} cannot be resolved ({exc})"
            ) from None
        except Exception as exc:
            raise TypeError(
                f"{func.__qualname__}: {what}: invalid type hint {hint!r} ({exc})"
            ) from None
    return hints


def _schema_hook(hint: Any) -> dict[str, Any]:
    if hint is object:  # msgspec takes ``object`` as "any value"
        return {"description": "any value"}
    raise NotImplementedError


def json_schema(hint: Any, where: str) -> dict[str, Any]:
    """The JSON Schema of a type, or a TypeError saying the type cannot travel on the bus."""
    try:
        return msgspec.json.schema(hint, schema_hook=_schema_hook)
    except NameError as exc:  # a type inside it (a Struct field) names something not defined yet
        raise UnresolvedHint(
            f"{where}: type {type_name(hint)} cannot be resolved ({exc})"
        ) from None
    except (TypeError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise TypeError(
            f"{where}: type {type_name(hint)} is not supported ({detail}); use msgspec-"
            "compatible types (str, int, float, bool, None, lists, dicts, msgspec.Struct, "
            "dataclasses, datetime, ...)"
        ) from None


class Signature:
    """msgspec types for one handler's keyword arguments and return value.

    Raises TypeError (naming the handler and the parameter) for a hint that does not resolve
    or a type that cannot be sent over the bus.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.name = func.__qualname__
        sig = inspect.signature(func)
        params = list(sig.parameters.values())[1:]  # the first parameter receives the actor
        hints = resolve_hints(func, [*(p.name for p in params), "return"])
        fields: list[Any] = []
        self.schemas: dict[str, dict[str, Any]] = {}
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise TypeError(
                    f"{self.name}: parameter {p.name!r} must be a plain or keyword-only "
                    "parameter (arguments travel by name)"
                )
            ann = hints.get(p.name, Any)
            self.schemas[p.name] = json_schema(ann, f"{self.name}: parameter {p.name!r}")
            if p.default is inspect.Parameter.empty:
                fields.append((p.name, ann))
            else:
                fields.append((p.name, ann, p.default))
        self.params = [p.name for p in params]
        self.hints = {p.name: hints.get(p.name, Any) for p in params}
        self.required = [p.name for p in params if p.default is inspect.Parameter.empty]
        self.args_type: type[msgspec.Struct] = msgspec.defstruct(
            f"{func.__name__}_args", fields, kw_only=True, forbid_unknown_fields=True
        )
        ret = hints.get("return", Any)
        self.return_type: Any = type(None) if ret is None else ret
        self.return_schema = json_schema(self.return_type, f"{self.name}: the return annotation")
        self.check_return = self.return_type is not Any
        self._args_decoder = msgspec.msgpack.Decoder(self.args_type)
        self._return_decoder = msgspec.msgpack.Decoder(self.return_type)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> msgspec.Struct:
        """Caller side: positional and keyword arguments → validated args (BadRequest if not)."""
        if args:
            if len(args) > len(self.params):
                raise BadRequest(
                    f"{self.name}: takes {len(self.params)} arguments, got {len(args)}"
                )
            for name, value in zip(self.params, args, strict=False):
                if name in kwargs:
                    raise BadRequest(f"{self.name}: got multiple values for argument {name!r}")
                kwargs[name] = value
        try:
            return msgspec.convert(kwargs, self.args_type)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"{self.name}: {exc}") from None

    def encode(self, bound: msgspec.Struct) -> msgspec.Raw:
        """Caller side: bound arguments → a request body; BadRequest for a value msgpack
        cannot carry (an int past 64 bits), rather than a raw OverflowError."""
        try:
            return _frames.encode_body(bound)
        except (OverflowError, TypeError, ValueError) as exc:
            raise BadRequest(f"{self.name}: an argument cannot be sent on the bus: {exc}") from None

    def encode_result(self, value: Any) -> msgspec.Raw:
        """Callee side: a return value → a reply body; TypeError naming the handler for a
        value msgpack cannot carry."""
        try:
            return _frames.encode_body(value)
        except (OverflowError, TypeError, ValueError) as exc:
            raise TypeError(f"{self.name} returned a value that cannot be sent: {exc}") from None

    def decode_args(self, body: bytes | msgspec.Raw) -> dict[str, Any]:
        """Callee side: a request body → keyword arguments (BadRequest if they don't fit)."""
        try:
            args = self._args_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise BadRequest(f"{self.name}: {exc}") from None
        return {name: getattr(args, name) for name in self.params}

    def check_result(self, value: Any) -> Any:
        """Callee side: the handler's return value must match its annotation."""
        if not self.check_return or type(value) is self.return_type:
            return value
        try:
            return msgspec.convert(value, self.return_type, from_attributes=True)
        except msgspec.ValidationError as exc:
            raise TypeError(
                f"{self.name} returned a value that does not match its annotation: {exc}"
            ) from None

    def decode_result(self, body: bytes) -> Any:
        return self._return_decoder.decode(body)
