"""What an actor serves, as data: each handler's route, docstring and JSON Schemas.

Served on the control port (``GET :888/describe``) the way Microbus serves OpenAPI, so tools
such as ``actorbus describe`` and ``actorbus call`` know the endpoints of a running actor.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from .declarations import HandlerSpec
from .shapes import ActorShape

__all__ = [
    "ConfigInfo",
    "Description",
    "HandlerInfo",
    "TickerInfo",
    "describe_actor",
    "describe_handler",
]


class HandlerInfo(msgspec.Struct, omit_defaults=True):
    """One handler: ``kind`` is endpoint, event (fired by this actor) or sink (of ``host``)."""

    name: str
    kind: str
    host: str
    method: str
    port: int
    path: str
    doc: str = ""
    arguments: dict[str, Any] = {}
    returns: dict[str, Any] = {}
    defs: dict[str, Any] = msgspec.field(default_factory=dict, name="$defs")


class TickerInfo(msgspec.Struct):
    """One ``@ticker``: its method, interval, docstring, and whether one replica runs it."""

    name: str
    seconds: float
    doc: str = ""
    #: True for ``singleton=True`` (one replica runs each beat); left out otherwise.
    singleton: bool | msgspec.UnsetType = msgspec.UNSET


class ConfigInfo(msgspec.Struct):
    """One ``config(...)`` value: its JSON Schema (with the default) and its ``doc``."""

    name: str
    schema: dict[str, Any]
    doc: str = ""


class Description(msgspec.Struct):
    """What one actor instance answers on ``:888/describe`` (new fields go last)."""

    host: str
    instance: str
    version: str
    doc: str
    handlers: list[HandlerInfo]
    tickers: list[TickerInfo] = []
    config: list[ConfigInfo] = []


def _hook(hint: Any) -> dict[str, Any]:
    if hint is object:
        return {"description": "any value"}
    raise NotImplementedError


def _default(value: Any) -> tuple[bool, Any]:
    try:
        return True, msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, msgspec.EncodeError):
        return False, None


def describe_handler(spec: HandlerSpec, host: str) -> HandlerInfo:
    """Route, docstring and JSON Schemas (arguments as one object, return value) of a handler."""
    sig = spec.signature
    hints = [sig.hints[name] for name in sig.params]
    schemas, defs = msgspec.json.schema_components(
        [*hints, sig.return_type], ref_template="#/$defs/{name}", schema_hook=_hook
    )
    properties: dict[str, Any] = {}
    parameters = inspect.signature(spec.func).parameters
    for name, schema in zip(sig.params, schemas, strict=False):
        prop = dict(schema)
        default = parameters[name].default
        if default is not inspect.Parameter.empty:
            ok, value = _default(default)
            if ok:
                prop["default"] = value
        properties[name] = prop
    arguments: dict[str, Any] = {"type": "object", "properties": properties}
    if sig.required:
        arguments["required"] = list(sig.required)
    arguments["additionalProperties"] = False
    return HandlerInfo(
        name=spec.name,
        kind=spec.kind,
        host=host,
        method=spec.method,
        port=spec.port,
        path=spec.path,
        doc=inspect.getdoc(spec.func) or "",
        arguments=arguments,
        returns=schemas[-1],
        defs=defs,
    )


def _config_info(name: str, spec: Any) -> ConfigInfo:
    from .config import annotation_of

    try:
        schema = dict(msgspec.json.schema(annotation_of(spec), schema_hook=_hook))
    except (TypeError, NotImplementedError):
        schema = {}
    ok, value = _default(spec.default)
    if ok:
        schema["default"] = value
    return ConfigInfo(name=name, schema=schema, doc=spec.doc)


def describe_actor(actor: ActorShape) -> Description:
    """Every endpoint, event and sink of ``actor``'s class."""
    cls = type(actor)
    host = actor.host()
    handlers = []
    for spec in cls._handlers:
        target = spec.source.host if spec.kind == "sink" and spec.source else host
        handlers.append(describe_handler(spec, target))
    return Description(
        host=host,
        instance=actor.instance,
        version=str(cls.version),
        doc=(inspect.getdoc(cls) or "") if cls.__doc__ else "",
        handlers=handlers,
        tickers=[
            TickerInfo(
                t.name, t.interval, inspect.getdoc(t.func) or "", t.singleton or msgspec.UNSET
            )
            for t in cls._tickers
        ],
        config=[_config_info(name, spec) for name, spec in cls._configs.items()],
    )
