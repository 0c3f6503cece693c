"""API modules from descriptions: the JSON that hosts serve on ``:888/describe`` → Python source.

Pure (no I/O): `generate` writes one `Api` subclass per host (``calc.accept`` → ``CalcAcceptApi``)
with msgspec Structs for the structured types in the schemas (`stubdrift` compares them).
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Sequence
from typing import Any

from .._wire.subjects import EVENT_PORT, REQUEST_PORT, kebab
from .stubdrift import canonical

__all__ = ["api_class_name", "generate"]

_RESERVED = {"Any", "Literal", "Api", "endpoint", "event", "msgspec", "datetime", "uuid", "decimal"}
_FORMATS = {
    "date-time": "datetime.datetime",
    "date": "datetime.date",
    "time": "datetime.time",
    "duration": "datetime.timedelta",
    "uuid": "uuid.UUID",
    "decimal": "decimal.Decimal",
}
_SIMPLE = {"integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def api_class_name(host: str) -> str:
    """``calc.accept`` → ``CalcAcceptApi``; ``my-svc.example`` → ``MySvcExampleApi``."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", host) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) + "Api"
    return name if name[0].isalpha() else "Host" + name


class _Writer:
    """Collects the imports and type definitions that the annotations need."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.typing: set[str] = set()
        self.taken: dict[str, Any] = {}  # python name -> canonical schema
        self.blocks: list[str] = []
        self.tags: dict[tuple[str, str], tuple[str, Any]] = {}  # (host, def) -> (field, value)

    def name_def(self, host: str, name: str, defs: dict[str, Any]) -> str:
        """The Python name of ``defs[name]``, written once per distinct schema."""
        key = (host, name)
        shape = canonical(defs[name], defs, frozenset({name}))
        tag = self.tags.get(key)
        candidates = [name, api_class_name(host).removesuffix("Api") + name]
        for candidate in [*candidates, *(f"{name}{n}" for n in range(2, 99))]:
            ident = _identifier(candidate)
            if ident in _RESERVED:
                continue
            if ident in self.taken:
                if self.taken[ident] == (shape, tag):
                    return ident
                continue
            self.taken[ident] = (shape, tag)
            self.blocks.append(self._define(ident, host, defs[name], defs, tag))
            return ident
        raise ValueError(f"{host}: cannot name the type {name!r}")  # pragma: no cover

    def _define(
        self, ident: str, host: str, schema: dict[str, Any], defs: dict[str, Any], tag: Any
    ) -> str:
        doc = str(schema.get("description") or "")
        if "enum" in schema or schema.get("type") != "object":
            return f"{ident} = {self.annotation(host, {**schema, 'title': None}, defs)}"
        self.imports.add("msgspec")
        required = set(schema.get("required", []))
        props: dict[str, Any] = dict(schema.get("properties", {}))
        options = []
        if tag is not None:
            options += [f"tag_field={_lit(tag[0])}", f"tag={_lit(tag[1])}"]
            props.pop(tag[0], None)
        order = list(props)
        first_optional = next((i for i, n in enumerate(order) if n not in required), len(order))
        if any(n in required for n in order[first_optional:]):
            options.append("kw_only=True")
        if schema.get("additionalProperties") is False:
            options.append("forbid_unknown_fields=True")
        lines = [f"class {ident}(msgspec.Struct{''.join(', ' + o for o in options)}):"]
        if doc:
            lines += [f"    {_docstring(doc, 4)}", ""]
        for field, prop in props.items():
            attr = _identifier(field)
            hint = self.annotation(host, prop, defs)
            kw = [] if attr == field else [f"name={_lit(field)}"]
            value = ""
            if field not in required and "default" not in prop:  # made by a factory
                factory = {"array": "set" if prop.get("uniqueItems") else "list"}.get(
                    str(prop.get("type")), "dict" if prop.get("type") == "object" else "None"
                )
                kw.insert(0, f"default_factory={factory}" if factory != "None" else "default=None")
            elif field not in required:
                text, mutable = _default(prop, prop.get("default"))
                if text == "set()":
                    kw.insert(0, "default_factory=set")
                elif mutable and text not in ("[]", "{}"):  # msgspec copies empty ones itself
                    kw.insert(0, f"default_factory=lambda: {text}")
                elif kw:
                    kw.insert(0, f"default={text}")
                else:
                    value = text
            if kw:
                value = f"msgspec.field({', '.join(kw)})"
            lines.append(f"    {attr}: {hint}" + (f" = {value}" if value else ""))
        if not props:
            lines.append("    pass")
        return "\n".join(lines)

    def annotation(self, host: str, schema: Any, defs: dict[str, Any]) -> str:
        """The Python type for a JSON Schema (``Any`` where it says nothing)."""
        if not isinstance(schema, dict):
            return self._any()
        if "$ref" in schema:
            name = str(schema["$ref"]).rpartition("/")[2]
            return self.name_def(host, name, defs) if name in defs else self._any()
        if "anyOf" in schema:
            self._learn_tags(host, schema)
            parts = [self.annotation(host, s, defs) for s in schema["anyOf"]]
            return " | ".join(dict.fromkeys(parts))
        if "enum" in schema or "const" in schema:
            values = schema.get("enum", [schema.get("const")])
            self.typing.add("Literal")
            return f"Literal[{', '.join(_lit(v) for v in values)}]"
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.annotation(host, {**schema, "type": k}, defs) for k in kind)
        if kind == "string":
            if schema.get("contentEncoding") == "base64":
                return "bytes"
            hint = _FORMATS.get(str(schema.get("format")))
            if hint:
                self.imports.add(hint.partition(".")[0])
                return hint
            return "str"
        if kind in _SIMPLE:
            return _SIMPLE[kind]
        if kind == "array":
            if "prefixItems" in schema:
                items = [self.annotation(host, s, defs) for s in schema["prefixItems"]]
                return f"tuple[{', '.join(items) or '()'}]"
            inner = self.annotation(host, schema.get("items", {}), defs)
            return f"{'set' if schema.get('uniqueItems') else 'list'}[{inner}]"
        if kind == "object":
            keys = self.annotation(host, schema.get("propertyNames", {"type": "string"}), defs)
            values = schema.get("additionalProperties", {})
            value = self._any() if values is True else self.annotation(host, values, defs)
            return f"dict[{keys}, {value}]"
        return self._any()

    def _any(self) -> str:
        self.typing.add("Any")
        return "Any"

    def _learn_tags(self, host: str, schema: dict[str, Any]) -> None:
        found = schema.get("discriminator")
        if not isinstance(found, dict):
            return
        field = str(found.get("propertyName"))
        for value, ref in dict(found.get("mapping", {})).items():
            self.tags[(host, str(ref).rpartition("/")[2])] = (field, value)


def _lit(value: Any) -> str:
    """A JSON value as Python source, strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _default(schema: dict[str, Any], value: Any) -> tuple[str, bool]:
    """The default ``value`` of a parameter or field typed by ``schema`` as source, and whether
    it is mutable (a Struct field then needs a factory)."""
    if isinstance(value, list) and schema.get("uniqueItems"):
        return ("{" + ", ".join(_lit(v) for v in value) + "}" if value else "set()"), True
    if isinstance(value, list) and "prefixItems" in schema:
        inner = ", ".join(_lit(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})", False
    return _lit(value), isinstance(value, list | dict)


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    return ident + "_" if keyword.iskeyword(ident) else ident


def _docstring(doc: str, indent: int) -> str:
    text = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    if "\n" in text:
        pad = " " * indent
        text = text.replace("\n", "\n" + pad).replace(pad + "\n", "\n") + "\n" + pad
    return f'"""{text}"""'


def _decorator(handler: dict[str, Any]) -> str:
    kind = str(handler.get("kind"))
    name, method = str(handler.get("name")), str(handler.get("method"))
    port, path = int(handler.get("port", 0)), str(handler.get("path"))
    default_port = EVENT_PORT if kind == "event" else REQUEST_PORT
    args = []
    if method != "POST" or path != "/" + kebab(name):
        args.append(_lit(f"{method} {path}"))
    if port != default_port:
        args.append(f"port={port}")
    return f"@{kind}" + (f"({', '.join(args)})" if args else "")


def _method(w: _Writer, host: str, handler: dict[str, Any]) -> list[str]:
    defs = dict(handler.get("$defs", {}))
    arguments = dict(handler.get("arguments", {}))
    required = set(arguments.get("required", []))
    props: dict[str, Any] = dict(arguments.get("properties", {}))
    params = []
    for name, schema in props.items():
        hint = w.annotation(host, schema, defs)
        default = "" if name in required else f" = {_default(schema, schema.get('default'))[0]}"
        params.append(f"{_identifier(name)}: {hint}{default}")
    order = list(props)
    first_optional = next((i for i, n in enumerate(order) if n not in required), len(order))
    star = any(n in required for n in order[first_optional:])
    returns = w.annotation(host, handler.get("returns", {}), defs)
    signature = ", ".join(["self", *(["*"] if star else []), *params])
    doc = str(handler.get("doc") or "")
    name = _identifier(str(handler.get("name")))
    end = ":" if doc else ": ..."
    define = f"    async def {name}({signature}) -> {returns}{end}"
    if len(define) > 100 and params:
        inner = "".join(f"        {p},\n" for p in ["self", *(["*"] if star else []), *params])
        define = f"    async def {name}(\n{inner}    ) -> {returns}{end}"
    lines = [f"    {_decorator(handler)}", define]
    if doc:
        lines.append(f"        {_docstring(doc, 8)}")
    return lines


def generate(descriptions: Sequence[dict[str, Any]], command: str = "actorbus stubs") -> str:
    """The source of an API module for ``descriptions`` (one per host, as ``:888/describe``
    serves them); importable and mypy-clean as written."""
    w = _Writer()
    classes: list[str] = []
    for desc in sorted(descriptions, key=lambda d: str(d.get("host"))):
        host = str(desc.get("host"))
        lines = [f"class {api_class_name(host)}(Api):"]
        doc = str(desc.get("doc") or "")
        if doc:
            lines.append(f"    {_docstring(doc, 4)}")
            lines.append("")
        lines.append(f"    hostname = {_lit(host)}")
        for handler in desc.get("handlers", []):
            if handler.get("kind") in ("endpoint", "event"):
                lines.append("")
                lines.extend(_method(w, host, handler))
        classes.append("\n".join(lines))
    hosts = ", ".join(sorted(str(d.get("host")) for d in descriptions))
    head = [
        '# mypy: disable-error-code="empty-body"',
        f'"""API of {hosts}.',
        "",
        f"Written by `{command}` from what the running hosts describe.",
        "Callers import it for `client(...)` and `@sink(...)`; an implementation subclasses its",
        "API class (``class Impl(XApi, Actor)``). `actorbus stubs --check` reports drift.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    head += [f"import {m}" for m in sorted(w.imports - {"msgspec"})]
    if w.typing:
        head.append(f"from typing import {', '.join(sorted(w.typing))}")
    if w.imports - {"msgspec"} or w.typing:
        head.append("")
    if "msgspec" in w.imports:
        head.append("import msgspec")
    head.append("from actorbus import Api, endpoint, event")
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join([*w.blocks, *classes]) + "\n"
