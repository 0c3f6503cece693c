"""OpenAPI 3.1 documents and the index page, built from the hosts' descriptions.

Only what the ingress lets through is documented: endpoints on open ports. Each host's
``$defs`` become ``components/schemas`` prefixed with the host, so two hosts may both name a
type ``User``. GET arguments are query parameters; others take a JSON object body.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, Final

from .._runtime.web import HTTP_RESPONSE_TAG
from .._version import __version__
from .._wire.routes import ANY_METHOD, ANY_PORT, path_params
from .catalog import endpoints
from .options import DEFAULT_PORT, IngressOptions

__all__ = ["index_page", "openapi_document", "url_path"]

_SCALAR: Final = {"string", "integer", "number", "boolean"}
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")

ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "type": {"type": "string"},
                "message": {"type": "string"},
                "traceback": {"type": "string"},
            },
            "required": ["status", "type", "message"],
        }
    },
    "required": ["error"],
}


def url_path(host: str, port: int, path: str) -> str:
    """The ingress URL path of an endpoint: ``/host/path``, ``/host:444/path``."""
    return f"/{host}{path}" if port == DEFAULT_PORT else f"/{host}:{port}{path}"


def template(path: str) -> str:
    """An OpenAPI path template: ``{rest...}`` is written ``{rest}``."""
    return path.replace("...}", "}")


def _refs(value: Any, prefix: str) -> Any:
    """A copy of a schema with ``#/$defs/X`` pointing at ``#/components/schemas/<prefix>X``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{prefix}{item[len('#/$defs/') :]}"
            else:
                out[key] = _refs(item, prefix)
        return out
    if isinstance(value, list):
        return [_refs(item, prefix) for item in value]
    return value


def _is_web(returns: dict[str, Any], defs: dict[str, Any]) -> bool:
    """Whether a handler returns an `HttpResponse` (its answer is not a JSON value)."""
    ref = str(returns.get("$ref", ""))
    target = defs.get(ref.rpartition("/")[2], {}) if ref else {}
    tag = target.get("properties", {}).get("$type", {}).get("enum")
    return bool(tag == [HTTP_RESPONSE_TAG])


def _operation(desc: dict[str, Any], handler: dict[str, Any], prefix: str) -> dict[str, Any]:
    args = _refs(handler.get("arguments") or {"type": "object"}, prefix)
    returns = handler.get("returns") or {}
    doc = str(handler.get("doc") or "")
    op: dict[str, Any] = {
        "operationId": _UNSAFE.sub("_", f"{desc.get('host')}.{handler.get('name')}"),
        "summary": doc.split("\n")[0] or str(handler.get("name")),
        "tags": [str(desc.get("host"))],
    }
    if doc:
        op["description"] = doc
    in_path = path_params(str(handler.get("path")))
    props = dict(args.get("properties") or {})
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": props.pop(name, {})}
        for name in in_path
    ]
    if in_path:  # the body or query carries the other arguments
        args = {**args, "properties": props}
        args["required"] = [n for n in args.get("required", []) if n not in in_path]
        if not args["required"]:
            del args["required"]
    if handler.get("method") == "GET":
        required = set(args.get("required", []))
        for name, schema in props.items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if schema.get("type") in _SCALAR and "anyOf" not in schema:
                param["schema"] = schema
            else:  # a structured value travels as JSON text
                param["content"] = {"application/json": {"schema": schema}}
            params.append(param)
    else:
        op["requestBody"] = {
            "required": bool(args.get("required")),
            "content": {"application/json": {"schema": args}},
        }
    if params:
        op["parameters"] = params
    if _is_web(returns, handler.get("$defs") or {}):
        ok: dict[str, Any] = {"description": "the handler's own answer", "content": {"*/*": {}}}
    else:
        ok = {
            "description": "the return value",
            "content": {"application/json": {"schema": _refs(returns, prefix)}},
        }
    error = {"$ref": "#/components/schemas/actorbus.Error"}
    failed = {"description": "the call failed", "content": {"application/json": {"schema": error}}}
    op["responses"] = {"200": ok, "default": failed}
    return op


def openapi_document(found: Sequence[dict[str, Any]], options: IngressOptions) -> dict[str, Any]:
    """One OpenAPI 3.1 document for the hosts in ``found`` (their descriptions)."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"actorbus.Error": ERROR_SCHEMA}
    for desc in found:
        host = str(desc.get("host"))
        prefix = f"{host}."
        for handler in endpoints(desc):
            port, method = int(handler.get("port", 0)), str(handler.get("method"))
            port = DEFAULT_PORT if port == ANY_PORT else port  # every port: documented at 443
            if not options.port_open(port) or method == ANY_METHOD:
                continue
            where = url_path(host, port, template(str(handler.get("path"))))
            paths.setdefault(where, {})[method.lower()] = _operation(desc, handler, prefix)
            for name, schema in (handler.get("$defs") or {}).items():
                schemas[prefix + name] = _refs(schema, prefix)
    title = str(found[0].get("host")) if len(found) == 1 else "actorbus ingress"
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def index_page(found: Sequence[dict[str, Any]], options: IngressOptions) -> str:
    """``GET /``: the hosts and their reachable endpoints, self-contained (nothing fetched)."""
    rows: list[str] = []
    for desc in found:
        host = html.escape(str(desc.get("host")))
        doc = html.escape(str(desc.get("doc") or "").split("\n")[0])
        rows.append(
            f'<h2>{host} <a href="/{host}/openapi.json">openapi.json</a></h2>'
            + (f"<p>{doc}</p>" if doc else "")
        )
        items = []
        for handler in endpoints(desc):
            port = int(handler.get("port", 0))
            port = DEFAULT_PORT if port == ANY_PORT else port
            if not options.port_open(port):
                continue
            where = html.escape(url_path(str(desc.get("host")), port, str(handler.get("path"))))
            first = html.escape(str(handler.get("doc") or "").split("\n")[0])
            method = html.escape(str(handler.get("method")))
            items.append(f"<li><code>{method} {where}</code> {first}</li>")
        rows.append("<ul>" + "".join(items) + "</ul>" if items else "<p>no endpoints</p>")
    body = "".join(rows) or "<p>No actor answers on this bus.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>actorbus ingress</title>"
        "<style>body{font-family:sans-serif;margin:2em}code{background:#eee}</style></head>"
        f"<body><h1>actorbus ingress</h1><p><a href='/openapi.json'>openapi.json</a></p>{body}"
        "</body></html>"
    )
