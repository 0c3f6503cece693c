"""Logging set-up for ``actorbus run``, and the context fields every record carries.

Records get ``host`` and ``instance`` (the actor whose task logs) and, inside a handler,
``msg_id``, ``trace_id`` and ``from_host`` of the call being handled (read from
``current_request``). ``--log-format json`` writes them as one JSON object per line; the text
format appends them in brackets (``[host/instance]`` on every record an actor's task logs, so
replicas are told apart, plus ``msg=`` and ``trace=`` inside a handler). The trace id is the one
the handler's span runs under, also when the server started the trace itself.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Final, Literal, TextIO

import msgspec

from .._wire import frames as _frames
from .current import current_request
from .spans import current_span

__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "actor_tag",
    "bind_actor",
    "current_actor",
    "setup_logging",
]

LogFormat = Literal["text", "json"]


@dataclass(frozen=True, slots=True)
class _ActorTag:
    host: str
    instance: str
    request: _frames.Request | None


current_actor: contextvars.ContextVar[_ActorTag | None] = contextvars.ContextVar(
    "actorbus_current_actor", default=None
)

#: A short tag for this process in multi-process runs (``w1``, ``w2``...; empty otherwise).
PROCESS_TAG_ENV: Final = "ACTORBUS_WORKER"


def bind_actor(host: str, instance: str, request: _frames.Request | None = None) -> None:
    """Mark the current task (and the tasks it starts) as working for this actor instance.

    ``request`` ties the mark to one call: a handler task that inherited a mark made for
    another request (from a co-located caller) is not attributed to the wrong instance.
    """
    current_actor.set(_ActorTag(host, instance, request))


def actor_tag(host: str, instance: str) -> _ActorTag:
    """A mark for `current_actor` that holds for any request (set by each handler run)."""
    return _ActorTag(host, instance, None)


def context_fields() -> dict[str, str]:
    """host/instance/msg_id/trace_id/from_host for the current task (only those known)."""
    out: dict[str, str] = {}
    tag = current_actor.get()
    req = current_request.get()
    if tag is not None and (tag.request is None or tag.request is req):
        out["host"] = tag.host
        out["instance"] = tag.instance
    elif req is not None:
        out["host"] = req.host
    if req is not None:
        out["msg_id"] = req.msg_id
        span = current_span.get()
        trace_id = span[0] if span is not None else req.trace_id
        if trace_id:
            out["trace_id"] = trace_id
        out["from_host"] = req.from_host
        out["from_instance"] = req.from_instance
    return out


class ContextFilter(logging.Filter):
    """Adds the context fields (as record attributes) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.actorbus = context_fields()
        return True


_json = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        tag = os.environ.get(PROCESS_TAG_ENV)
        if tag:
            obj["worker"] = tag
        obj.update(getattr(record, "actorbus", None) or context_fields())
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return _json.encode(obj).decode()


class TextFormatter(logging.Formatter):
    """``time level [worker] logger: message [host/instance msg=… trace=…]``; the bracket
    names the actor instance on every record an actor's task logs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        tag = os.environ.get(PROCESS_TAG_ENV)
        self._tag = f"[{tag}] " if tag else ""

    def format(self, record: logging.LogRecord) -> str:
        text = self._tag + super().format(record)
        fields: dict[str, str] = getattr(record, "actorbus", None) or context_fields()
        if "host" not in fields:
            return text
        extra = " [" + fields["host"] + ("/" + fields["instance"] if "instance" in fields else "")
        if "msg_id" in fields:
            extra += f" msg={fields['from_host']}:{fields['msg_id']}"
            if "trace_id" in fields:
                extra += f" trace={fields['trace_id']}"
        return text + extra + "]"


def setup_logging(
    fmt: LogFormat = "text", level: str | int = "INFO", stream: TextIO | None = None
) -> None:
    """Route the ``logging`` root to ``stream`` (stderr) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
