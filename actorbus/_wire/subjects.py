"""NATS subject grammar (wire layer, pure): hostnames, ports, escaped paths, reply inboxes.

Requests travel on ``plane.port.source.reversed-host.|.METHOD.path-tokens``: as in Microbus, the
destination hostname reversed, one token per label, so wildcards can follow its structure; the
``source`` token is the caller's hostname as one token (``billing.example`` → ``billing~example``).
Tokens that are not hostname labels carry a ``~`` marker (``~<instance>`` for direct addressing,
``~all`` for every replica) so they can never collide with a real hostname label.

The source sits at a fixed position so that nats-server can check it: under the generated ACLs
an actor may publish requests only as ``plane.*.<its own token>.>``, so a responder reads its
caller from the subject (`request_source`) and the frame must agree.

Replies name who sends them, for the same reason. A request carries the reply subject
``plane.r.~.reversed-caller.~instance.<msg-id>``; a responder answers (acks, replies, faults) on
the same subject with the ``~`` token replaced by its own hostname as one token:
``plane.r.users~example.….<msg-id>``. Under the generated ACLs an actor may publish only the
replies that carry its own hostname, and nobody but nats-server itself (its no-responders
status) writes on the ``~`` form. The caller subscribes to ``plane.r.*.reversed-caller.~instance.*``
and checks each reply's sender against that token.
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "ALL_REPLICAS",
    "CONTROL_PORT",
    "EDGE_DOMAIN",
    "EVENT_PORT",
    "REPLY_FROM_SERVER",
    "REQUEST_PORT",
    "SubjectError",
    "all_replicas_subscription",
    "announce_subject",
    "announce_subscription",
    "announcer",
    "answer_subject",
    "continuation_subject",
    "direct_subscription",
    "escape_path",
    "gone_subject",
    "host_token",
    "kebab",
    "matches",
    "parse_route",
    "queue_for",
    "reply_prefix",
    "reply_sender",
    "reply_subscription",
    "request_matches",
    "request_source",
    "request_subject",
    "reverse_host",
    "sent_by",
    "subscription_subject",
    "validate_hostname",
    "validate_method",
    "validate_plane",
    "validate_port",
]

ALL_REPLICAS = "~all"
#: Edge clients (the command line, `App` edge callers, the HTTP ingress) use hostnames under
#: this domain; actors may not.
EDGE_DOMAIN = "actorbus"
#: The sender token of a reply subject as a request carries it: only nats-server answers there
#: (its no-responders status); responders answer on their own token.
REPLY_FROM_SERVER = "~"
#: Default ports, as in Microbus: requests, events (so ACLs can tell them apart), control.
REQUEST_PORT = 443
EVENT_PORT = 417
CONTROL_PORT = 888
_HOST_RE = re.compile(r"^[a-z0-9_\-]+(\.[a-z0-9_\-]+)*$")
_PLANE_RE = re.compile(r"^[0-9a-zA-Z]+$")
_METHOD_RE = re.compile(r"^[A-Z]+$")
_INSTANCE_RE = re.compile(r"^[0-9a-z]+$")
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_RESERVED_HOSTS = frozenset({"all"})
MAX_HOSTNAME = 253


class SubjectError(ValueError):
    """A hostname, plane, method, port or path that cannot be put on the bus."""


def validate_hostname(host: str) -> str:
    """Return ``host`` unchanged when it is a valid hostname, else raise `SubjectError`.

    Upper case is refused rather than lowered, so a hostname is always called by the exact
    name it was declared with.
    """
    if not isinstance(host, str) or not host:
        raise SubjectError(f"hostname must be a non-empty string, got {host!r}")
    lowered = host.lower()
    if len(lowered) > MAX_HOSTNAME or not _HOST_RE.fullmatch(lowered):
        raise SubjectError(
            f"invalid hostname {host!r}: use dot-separated labels of lower-case letters, "
            "digits, '-' or '_'"
        )
    if lowered in _RESERVED_HOSTS or lowered.endswith(".all"):
        raise SubjectError(f"hostname {host!r} is reserved")
    if lowered != host:
        raise SubjectError(f"invalid hostname {host!r}: use lower case ({lowered!r})")
    return host


def validate_plane(plane: str) -> str:
    """A plane isolates one deployment (or one test) from another on a shared NATS."""
    if not isinstance(plane, str) or not _PLANE_RE.fullmatch(plane):
        raise SubjectError(f"invalid plane {plane!r}: use letters and digits only")
    return plane


def validate_method(method: str) -> str:
    upper = method.upper() if isinstance(method, str) else ""
    if upper != "ANY" and not _METHOD_RE.fullmatch(upper):
        raise SubjectError(f"invalid HTTP method {method!r}")
    return upper


def validate_port(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise SubjectError(f"invalid port {port!r}: expected an integer 0..65535")
    return port


def _validate_instance(instance: str) -> str:
    if not _INSTANCE_RE.fullmatch(instance) or instance == "all":
        raise SubjectError(f"invalid instance id {instance!r}")
    return instance


def kebab(name: str) -> str:
    """``on_user_deleted`` → ``on-user-deleted`` (default path of an endpoint or event)."""
    out: list[str] = []
    for i, ch in enumerate(name.strip("_")):
        if ch == "_":
            out.append("-")
        elif ch.isupper():
            if i and out and out[-1] != "-":
                out.append("-")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def reverse_host(host: str) -> str:
    """``www.example.com`` → ``com.example.www``."""
    return ".".join(reversed(host.lower().split(".")))


def _escape_token(segment: str) -> str:
    if not segment:
        return "_"
    parts: list[str] = []
    for ch in segment:
        if ch in _SAFE:
            parts.append(ch)
        elif ch == ".":
            parts.append("_")
        elif ord(ch) <= 0xFFFF:
            parts.append(f"%{ord(ch):04x}")
        else:  # a distinct marker keeps the escape one-to-one past the BMP
            parts.append(f"%u{ord(ch):06x}")
    return "".join(parts)


def escape_path(path: str, *, subscription: bool = False) -> str:
    """Turn a URL path into subject tokens; no input can yield ``.``, ``*``, ``>`` or spaces.

    In subscriptions, ``{name}`` becomes ``*`` and a last ``{name...}`` (or ``{name+}``)
    becomes ``>``.
    """
    if not isinstance(path, str):
        raise SubjectError(f"path must be a string, got {path!r}")
    path = path.removeprefix("/")
    if not path:
        return "_"
    segments = path.split("/")
    tokens: list[str] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if subscription and seg.startswith("{") and seg.endswith("}"):
            tokens.append(">" if seg.endswith(("+}", "...}")) and i == last else "*")
        else:
            tokens.append(_escape_token(seg))
    return ".".join(tokens)


@functools.lru_cache(maxsize=4096)
@functools.lru_cache(maxsize=4096)  # pure, and on every call's path: built once per route
def request_subject(
    plane: str,
    port: int,
    host: str,
    method: str,
    path: str,
    *,
    source: str,
    instance: str | None = None,
) -> str:
    """Subject a request from ``source`` (the caller's hostname) is published on; ``instance``
    addresses one replica (or ``~all``)."""
    rev = reverse_host(host)
    if instance is not None:
        marker = instance if instance == ALL_REPLICAS else "~" + _validate_instance(instance)
        rev = f"{rev}.{marker}"
    return f"{plane}.{port}.{host_token(source)}.{rev}.|.{method.upper()}.{escape_path(path)}"


def request_source(subject: str) -> str:
    """The caller's hostname a request subject names (its third token), or "" when there is
    none. Authentic where nats-server enforces the generated ACLs."""
    parts = subject.split(".", 3)
    return parts[2].replace("~", ".") if len(parts) == 4 else ""


def sent_by(subject: str, reply: str | None, plane: str, host: str, instance: str) -> bool:
    """True when a request on ``subject`` (with ``reply``) is ``host``'s own: the subject's
    source token is that host, and a reply subject of actorbus's shape names the same caller
    and instance (a plain NATS inbox is left as it is), so no request makes a responder
    answer into another caller's inbox."""
    parts = subject.split(".", 3)
    if len(parts) != 4 or parts[2] != host.replace(".", "~"):
        return False
    if reply is None or not reply.startswith(f"{plane}.r."):
        return True
    return reply.startswith(_inbox_of(plane, host, instance))


@functools.lru_cache(maxsize=4096)
def _inbox_of(plane: str, host: str, instance: str) -> str:
    """The reply subjects of one caller instance start with this (bounded cache: the fields
    come from frames, but a peer filling it only evicts, never grows it)."""
    return f"{plane}.r.{REPLY_FROM_SERVER}.{reverse_host(host)}.~{instance}."


def request_matches(
    subject: str,
    plane: str,
    port: int,
    host: str,
    method: str,
    path: str,
    instance: str | None = None,
    *,
    source: str,
) -> bool:
    """True when ``subject`` is exactly where a request from ``source`` with these routing
    fields (addressed to ``instance``, ``~all``, or to any replica when None) is published: a
    frame may not claim another route, nor another caller.

    Uncached and bounded by the subject's length, as the fields come from untrusted frames.
    """
    if len(path) > len(subject) + 1 or len(host) + len(source) > len(subject):
        return False  # escaping never shortens a path or a host: no need to build it
    rev = reverse_host(host)
    if instance is not None:
        rev += "." + (instance if instance == ALL_REPLICAS else "~" + instance)
    src = host_token(source)
    expected = f"{plane}.{port}.{src}.{rev}.|.{method.upper()}.{escape_path(path)}"
    return expected == subject


def subscription_subject(plane: str, port: int, host: str, method: str, path: str) -> str:
    """Subject a handler subscribes to: from any source; port 0 and method ANY become
    wildcards."""
    port_token = "*" if port == 0 else str(port)
    method_token = "*" if method.upper() == "ANY" else method.upper()
    path_tokens = escape_path(path, subscription=True)
    return f"{plane}.{port_token}.*.{reverse_host(host)}.|.{method_token}.{path_tokens}"


def direct_subscription(plane: str, host: str, instance: str) -> str:
    """Every request addressed to one replica, on any port and path, from any source (never
    its replies: the ``|`` token follows the instance marker only in requests)."""
    return f"{plane}.*.*.{reverse_host(host)}.~{_validate_instance(instance)}.|.>"


def continuation_subject(subject: str, plane: str, host: str, instance: str) -> str:
    """Where the rest of a fragmented request first sent on ``subject`` goes: the same port and
    route, addressed to the one instance of ``host`` that acked the first piece (for an event,
    the sink's host). The receiver builds it the same way, to refuse pieces sent elsewhere.
    "" when ``subject`` is not a request subject."""
    head, sep, tail = subject.partition(".|.")
    tokens = head.split(".", 3)
    if not sep or len(tokens) < 4 or tokens[0] != plane:
        return ""
    port, source = tokens[1], tokens[2]  # the same sender: the ACL checks it again
    rev = reverse_host(host)
    return f"{plane}.{port}.{source}.{rev}.~{_validate_instance(instance)}.|.{tail}"


def all_replicas_subscription(plane: str, host: str) -> str:
    """Every request addressed to all replicas of a host (``.multicast`` on endpoints)."""
    return f"{plane}.*.*.{reverse_host(host)}.{ALL_REPLICAS}.|.>"


def reply_prefix(plane: str, host: str, instance: str) -> str:
    """The reply subject of a request of one instance is ``<prefix>.<msg-id>``; responders
    answer on its `answer_subject`, and `reply_subscription` receives both."""
    return f"{plane}.r.{REPLY_FROM_SERVER}.{reverse_host(host)}.~{_validate_instance(instance)}"


def reply_subscription(plane: str, host: str, instance: str) -> str:
    """Every answer to one instance's requests: from each responder, and the server's status."""
    return f"{plane}.r.*.{reverse_host(host)}.~{_validate_instance(instance)}.*"


def host_token(host: str) -> str:
    """A hostname as one subject token (``.`` becomes ``~``, which no hostname contains)."""
    return host.replace(".", "~")


def answer_subject(reply: str, plane: str, host: str) -> str:
    """Where ``host`` answers a request whose reply subject is ``reply``: the same subject with
    the sender's token filled in. A reply subject of another shape (a plain NATS inbox) is
    answered as it is."""
    head = f"{plane}.r.{REPLY_FROM_SERVER}."
    if reply.startswith(head):
        return f"{plane}.r.{host_token(host)}.{reply[len(head) :]}"
    return reply


def reply_sender(subject: str, plane: str) -> str:
    """The sender token of an answer on a reply subject (`REPLY_FROM_SERVER` for the server's
    status), or "" when ``subject`` is not one."""
    head = f"{plane}.r."
    if not subject.startswith(head):
        return ""
    return subject[len(head) :].partition(".")[0]


def gone_subject(plane: str) -> str:
    """Where a supervisor says instances died: its own subject, so that an ACL can leave it to
    the edge identity (the supervisor's) while every actor may announce its subscriptions."""
    return f"{plane}.888.all.|.GONE._"


def announce_subject(plane: str, identity: str = "") -> str:
    """Where a connection says its subscriptions changed, so gathers never trust a stale
    cache: under its identity's hostname as one token (``_`` for the edge, or on a bus without
    identities), so that an ACL lets each actor announce only for itself."""
    return f"{plane}.888.all.|.ANNOUNCE.{host_token(identity) if identity else '_'}"


def announce_subscription(plane: str) -> str:
    """Every connection's announcements."""
    return f"{plane}.888.all.|.ANNOUNCE.*"


def announcer(subject: str) -> str:
    """The identity an announcement was sent under ("" for the edge's ``_``)."""
    token = subject.rpartition(".")[2]
    return "" if token == "_" else token.replace("~", ".")


def queue_for(host: str) -> str:
    """Queue group of a handler: its own host, so replicas of one host share the load."""
    return host.lower()


def parse_route(subject: str) -> tuple[int, str] | None:
    """``plane.443.….|.POST.a.b`` → ``(443, "POST.a.b")``; None when it is not a request subject."""
    head, sep, tail = subject.partition(".|.")
    if not sep:
        return None
    tokens = head.split(".", 2)
    if len(tokens) < 3 or not (tokens[1].isascii() and tokens[1].isdigit()):
        return None
    return int(tokens[1]), tail


def matches(pattern: str, subject: str) -> bool:
    """NATS wildcard match: ``*`` is one token, a final ``>`` is one or more tokens."""
    ptoks = pattern.split(".")
    stoks = subject.split(".")
    for i, p in enumerate(ptoks):
        if p == ">":
            return i == len(ptoks) - 1 and len(stoks) > i
        if i >= len(stoks):
            return False
        if p != "*" and p != stoks[i]:
            return False
    return len(ptoks) == len(stoks)
