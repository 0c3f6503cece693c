"""``actorbus acl``: NATS users and least-privilege permissions derived from the actors.

One user per actor hostname and one for the edges (the command line, `App` edge clients, the
tracer, the HTTP ingress), whose hostnames live under ``.actorbus`` (``cli.actorbus``,
``app.actorbus``). With ``P`` the plane (``*`` unless ``--plane``), ``R`` a reversed hostname
and ``T`` a hostname as one token (``users.example`` → ``users~example``), an actor may:

- publish requests and events only as itself, ``P.*.T.>`` (the subject's source token is what
  a responder reads as its caller), except on the control port; replies in its own name only
  (``P.r.T.>``), its own subscription announcements, its spans, questions to the tracer
  (``P.trace-ctl.query``) and answers to ``$SRV`` requests; never tracer control
  (``P.trace-ctl``, which switches tracing on everywhere: only the edge user may);
- subscribe to requests for its own hostname from any source (routes, direct and all-replica
  addressing), its replies, control on ``all``, announcements and ``gone`` notices, the event
  subjects of the sources it has sinks for (in its own queue group only), tracer control and
  ``$SRV.>``.

A durable sink host may also use exactly its JetStream consumer and its source's stream (and
the plane's dead-letter stream), and receive on its own JetStream inbox, where only JetStream
delivers; the edge may read, delete and replay dead letters. Sources need no JetStream rights:
their events are plain publishes that the stream captures. A host with a singleton ticker may
create the plane's lease bucket and read and write its own keys there, no other host's.

Nobody but a source may publish that source's events, and nobody a handler's ``callers=``
leaves out may call it: both are explicit denials (the edge user's too). The edge may publish
requests under any source token but the actors'. Hostnames nest (``a.users.example`` sits
under ``users.example``) and NATS wildcards cannot tell a label from an instance marker, so a
host's subscribe rights are denied the subjects of the other known hosts nested under it.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._runtime.actor import Actor
from .._runtime.callers import Callers, effective_callers
from .._transport.credentials import Credentials, Identity, write_credentials, write_private
from .._wire import jetstream as _js
from .._wire import leases as _leases
from .._wire import subjects as _subjects
from .targets import TargetError, load_targets

__all__ = [
    "EDGE_DOMAIN",
    "EDGE_USER",
    "AclError",
    "Permissions",
    "add_acl_parser",
    "credentials_option",
    "derive_permissions",
    "generate",
    "load_credentials_option",
    "render_conf",
]

#: Edge clients use hostnames under this domain; actors may not.
EDGE_DOMAIN = _subjects.EDGE_DOMAIN
EDGE_USER = "edge.actorbus"


class AclError(ValueError):
    """The actors cannot be given sound permissions (named in the message)."""


@dataclass
class Permissions:
    """One NATS user's permissions, as nats-server's ``permissions`` block holds them."""

    publish: list[str] = field(default_factory=list)
    publish_deny: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    subscribe_deny: list[str] = field(default_factory=list)
    allow_responses: bool = False


def _rev(host: str) -> str:
    return _subjects.reverse_host(host)


def _add(items: list[str], *subjects: str) -> None:
    for subject in subjects:
        if subject not in items:
            items.append(subject)


@dataclass(frozen=True)
class _Guarded:
    """A route some callers may not publish to: events (only their source, and the hosts its
    sinks list) and endpoints with ``callers=``."""

    host: str  # the route's hostname (an event's: its source's)
    port: int
    method: str
    path: str
    admits: Callers

    def subjects(self, plane: str) -> tuple[str, str]:
        """Plain and direct (one replica or ``~all``) subjects, from any source."""
        port = "*" if self.port == 0 else str(self.port)
        method = "*" if self.method == "ANY" else self.method
        tail = f"|.{method}.{_subjects.escape_path(self.path, subscription=True)}"
        head = f"{plane}.{port}.*.{_rev(self.host)}"
        return f"{head}.{tail}", f"{head}.*.{tail}"


def _guarded(classes: Sequence[type[Actor]]) -> list[_Guarded]:
    out: list[_Guarded] = []
    events: dict[tuple[str, int, str, str], set[str]] = {}
    for cls in classes:
        host = cls.host()
        for spec in cls._handlers:
            if spec.kind == "event":
                events.setdefault((host, spec.port, spec.method, spec.path), {host})
            elif spec.kind == "endpoint":
                admits = effective_callers(spec.callers, cls._callers)
                if admits is not None:
                    out.append(_Guarded(host, spec.port, spec.method, spec.path, admits))
    sinks: list[tuple[str, tuple[str, int, str, str]]] = []
    for cls in classes:  # who else a sink lets fire its event (the edge only if it says so)
        for spec in cls._handlers:
            if spec.kind == "sink" and spec.source is not None:
                key = (spec.source.host, spec.port, spec.method, spec.path)
                listed = spec.callers if spec.callers is not None else cls._callers
                events.setdefault(key, {key[0]}).update(listed or ())
                sinks.append((cls.host(), key))
    out += [_Guarded(*key, Callers(hosts)) for key, hosts in events.items()]
    # A sink replica's own address for the event (cancels, the rest of a large event): the
    # same senders only.
    out += [_Guarded(sink, *key[1:], Callers(events[key])) for sink, key in sinks]
    return out


def _denials(guarded: Sequence[_Guarded], plane: str, host: str) -> list[str]:
    """What ``host`` (an actor, or the edge for ``""``) may not publish. The edge's tokens
    cannot be told apart, so it may publish where any edge hostname is admitted."""
    out: list[str] = []
    for g in guarded:
        if host:
            admitted = g.admits.admits(host)
        else:
            admitted = any(h.endswith("." + EDGE_DOMAIN) for h in g.admits.hosts)
        if not admitted:
            _add(out, *g.subjects(plane))
    return out


def derive_permissions(
    classes: Sequence[type[Actor]], plane: str = "*"
) -> tuple[dict[str, Permissions], Permissions]:
    """Permissions of each actor hostname, and of the edge user. Raises `AclError`."""
    if plane != "*":
        _subjects.validate_plane(plane)
    hosts: dict[str, list[type[Actor]]] = {}
    for cls in classes:
        host = cls.host()
        if host == EDGE_DOMAIN or host.endswith("." + EDGE_DOMAIN):
            raise AclError(f"{cls.__name__}: hostname {host!r} is reserved for edge clients")
        hosts.setdefault(host, []).append(cls)
    guarded = _guarded(classes)
    out = {host: _actor(host, own, hosts, guarded, plane) for host, own in hosts.items()}
    return out, _edge(classes, hosts, guarded, plane)


def _actor(
    host: str,
    own: list[type[Actor]],
    hosts: dict[str, list[type[Actor]]],
    guarded: Sequence[_Guarded],
    plane: str,
) -> Permissions:
    rev, token = _rev(host), _subjects.host_token(host)
    perm = Permissions(allow_responses=True)
    # Requests, events and cancels only as itself (the responder reads its caller from here),
    # and replies only in its own name: nobody else's ack, reply or no-responders status.
    _add(perm.publish, f"{plane}.*.{token}.>", f"{plane}.r.{token}.>")
    _add(perm.publish, _subjects.announce_subject(plane, host))  # its own announcements only
    # Tracer control is the edge's: an actor may only ask who traces, and publish its spans.
    _add(perm.publish, f"{plane}.trace-ctl.query", f"{plane}.trace.{rev}")
    _add(perm.publish_deny, f"{plane}.{_subjects.CONTROL_PORT}.{token}.>")  # control: the edge's
    _add(perm.publish_deny, *_denials(guarded, plane, host))

    control = _subjects.CONTROL_PORT
    _add(perm.subscribe, f"{plane}.*.*.{rev}.>", f"{plane}.r.*.{rev}.>")
    _add(perm.subscribe, f"{plane}.{control}.*.all.|.>", f"{plane}.{control}.all.|.>")
    for cls in own:
        for spec in cls._handlers:
            if spec.kind == "sink" and spec.source is not None:
                subject = _subjects.subscription_subject(
                    plane, spec.port, spec.source.host, spec.method, spec.path
                )
                _add(perm.subscribe, f"{subject} {spec.queue or _subjects.queue_for(host)}")
    _add(perm.subscribe, f"{plane}.trace-ctl", "$SRV.>")
    for cls in own:
        for spec in cls._handlers:
            if spec.kind == "sink" and spec.durable and spec.source is not None:
                _durable_grants(perm, host, spec.queue or _subjects.queue_for(host), spec, plane)
    if any(t.singleton for cls in own for t in cls._tickers):
        _lease_grants(perm, host, plane)
    for other in hosts:
        if other != host and other.endswith("." + host):
            _add(
                perm.subscribe_deny, f"{plane}.*.*.{_rev(other)}.>", f"{plane}.r.*.{_rev(other)}.>"
            )
    return perm


def _stream(plane: str, name: str) -> str:
    """A stream's name in a grant: on any plane (``*``) the plane's part is a wildcard token."""
    return "*" if plane == "*" else name


def _durable_grants(perm: Permissions, host: str, queue: str, spec: Any, plane: str) -> None:
    """What a durable sink needs of JetStream: its source's stream and the dead-letter stream
    (created or widened), its own consumer (created, pulled, acked), its dead letters, and
    its inbox (where only JetStream delivers: nobody may publish there)."""
    stream = _stream(plane, _js.stream_name(plane, spec.source.host))
    dlq = _stream(plane, _js.dlq_stream(plane))
    consumer = _js.consumer_name(queue, spec.port, spec.method, spec.path)
    for name in (stream, dlq):
        for verb in ("INFO", "CREATE", "UPDATE"):
            _add(perm.publish, f"$JS.API.STREAM.{verb}.{name}")
    _add(
        perm.publish,
        f"$JS.API.CONSUMER.CREATE.{stream}.{consumer}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        f"$JS.ACK.{stream}.{consumer}.>",
        f"{plane}.~dlq.{_subjects.host_token(host)}.{stream}.{consumer}",
    )
    _add(perm.subscribe, f"{plane}.js.{_rev(host)}.>")


def _lease_grants(perm: Permissions, host: str, plane: str) -> None:
    """Singleton tickers: the plane's lease bucket (created), the host's own keys (read with
    a direct get, written compare-and-set), and its JetStream inbox for the answers."""
    stream = _stream(plane, _leases.stream(plane))
    keys = f"$KV.{_stream(plane, _leases.bucket(plane))}.{_subjects.host_token(host)}.*"
    for verb in ("INFO", "CREATE", "UPDATE"):
        _add(perm.publish, f"$JS.API.STREAM.{verb}.{stream}")
    _add(perm.publish, keys, f"$JS.API.DIRECT.GET.{stream}.{keys}")
    _add(perm.subscribe, f"{plane}.js.{_rev(host)}.>")


def _edge_dlq(perm: Permissions, classes: Sequence[type[Actor]], plane: str) -> None:
    """``actorbus dlq``: read and delete dead letters, put them back on replay subjects."""
    durable = [
        spec
        for cls in classes
        for spec in cls._handlers
        if spec.kind == "sink" and spec.durable and spec.source is not None
    ]
    if not durable:
        return
    dlq = _stream(plane, _js.dlq_stream(plane))
    _add(perm.publish, f"$JS.API.STREAM.MSG.GET.{dlq}", f"$JS.API.STREAM.MSG.DELETE.{dlq}")
    for spec in durable:
        assert spec.source is not None
        source = spec.source.host
        stream = _stream(plane, _js.stream_name(plane, source))
        _add(
            perm.publish,
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"{plane}.{spec.port}.*.{_rev(source)}.~replay.>",
        )
    _add(perm.subscribe, f"{plane}.js.{EDGE_DOMAIN}.>")


def _request_ports(classes: Sequence[type[Actor]]) -> list[int]:
    """Ports the edge sends requests on: 443, control, and every port an endpoint declares."""
    ports = {_subjects.REQUEST_PORT, _subjects.CONTROL_PORT}
    ports.update(s.port for cls in classes for s in cls._handlers if s.kind != "event" and s.port)
    return sorted(ports)


def _edge(
    classes: Sequence[type[Actor]],
    hosts: dict[str, list[type[Actor]]],
    guarded: Sequence[_Guarded],
    plane: str,
) -> Permissions:
    perm = Permissions()
    _add(perm.publish, *(f"{plane}.{port}.>" for port in _request_ports(classes)))
    _add(perm.publish, f"{plane}.trace-ctl", f"{plane}.trace-ctl.query")
    _add(perm.publish, f"{plane}.trace.{EDGE_DOMAIN}.>")
    for host in hosts:  # any source but an actor's; no actor's announcements
        token = _subjects.host_token(host)
        _add(perm.publish_deny, f"{plane}.*.{token}.>", _subjects.announce_subject(plane, host))
    _add(perm.publish_deny, *_denials(guarded, plane, ""))
    _add(perm.subscribe, f"{plane}.r.*.{EDGE_DOMAIN}.>", _subjects.announce_subscription(plane))
    _add(perm.subscribe, _subjects.gone_subject(plane))  # the supervisor hears its own notices
    _add(perm.subscribe, f"{plane}.trace-ctl", f"{plane}.trace-ctl.query", f"{plane}.trace.>")
    _edge_dlq(perm, classes, plane)
    return perm


# -- identities and files ---------------------------------------------------------------------


def new_identity(name: str, *, nkeys: bool) -> Identity:
    """A fresh password (from `secrets`) or, with ``nkeys``, a fresh user nkey pair."""
    if not nkeys:
        return Identity(name, user=name, password=secrets.token_urlsafe(24))
    import nkeys as _nkeys

    seed = _nkeys.encode_seed(secrets.token_bytes(32), _nkeys.PREFIX_BYTE_USER)
    keypair = _nkeys.from_seed(bytearray(seed))
    public = keypair.public_key.decode()
    keypair.wipe()
    return Identity(name, nkey=public, seed=seed.decode())


def _strings(items: Iterable[str]) -> str:
    return "[" + ", ".join(_quote(s) for s in items) + "]"


def _quote(text: str) -> str:
    if any(ch in text for ch in '"\\\n'):
        raise AclError(f"cannot put {text!r} in a NATS config")
    return f'"{text}"'


def _render_user(ident: Identity, perm: Permissions) -> list[str]:
    lines = ["    {"]
    if ident.user:
        lines += [
            f"      user: {_quote(ident.user)}",
            f"      password: {_quote(ident.password or '')}",
        ]
    else:
        lines += [f"      # {ident.name}", f"      nkey: {_quote(ident.nkey or '')}"]
    lines.append("      permissions: {")
    lines.append(f"        publish: {{ allow: {_strings(perm.publish)}")
    if perm.publish_deny:
        lines.append(f"                   deny: {_strings(perm.publish_deny)}")
    lines.append("        }")
    lines.append(f"        subscribe: {{ allow: {_strings(perm.subscribe)}")
    if perm.subscribe_deny:
        lines.append(f"                     deny: {_strings(perm.subscribe_deny)}")
    lines.append("        }")
    if perm.allow_responses:
        lines.append("        allow_responses: true")
    lines += ["      }", "    }"]
    return lines


def render_conf(
    creds: Credentials, perms: dict[str, Permissions], edge: Permissions, header: str
) -> str:
    """An ``authorization`` block: a whole config for ``nats-server -c`` or an ``include``."""
    assert creds.edge is not None
    lines = [f"# {line}" for line in header.splitlines()]
    lines += ["authorization {", "  users = ["]
    lines += _render_user(creds.edge, edge)
    for host, perm in sorted(perms.items()):
        lines += _render_user(creds.hosts[host], perm)
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def generate(
    classes: Sequence[type[Actor]],
    conf: str,
    credentials: str,
    *,
    nkeys: bool = False,
    plane: str | None = None,
    command: str = "actorbus acl",
) -> tuple[int, Credentials]:
    """Write the server config and the credentials file (both mode 0600); returns the number of
    users and the credentials. Raises `AclError` or `OSError`."""
    perms, edge = derive_permissions(classes, plane or "*")
    creds = Credentials(
        edge=new_identity(EDGE_USER, nkeys=nkeys),
        hosts={host: new_identity(host, nkeys=nkeys) for host in perms},
    )
    header = (
        f"NATS users and permissions for actorbus (plane {plane or 'any'}), generated by:\n"
        f"  {command}\n"
        "Regenerate when the actors change; the credentials file holds the matching secrets."
    )
    # Passwords appear in the config too (nkeys: only public keys), so it is private as well.
    write_private(conf, render_conf(creds, perms, edge, header))
    write_credentials(credentials, creds)
    return len(perms) + 1, creds


def main(args: Any) -> int:
    """``actorbus acl``: load the targets, write both files, say where (never what)."""
    from .common import CliError, import_failure

    try:
        classes = load_targets(args.targets)
    except TargetError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:
        raise CliError(import_failure(exc)) from exc
    command = " ".join(["actorbus acl", *args.targets, *(["--nkeys"] if args.nkeys else [])])
    if args.plane:
        command += f" --plane {args.plane}"
    try:
        count, _ = generate(
            classes, args.conf, args.credentials, nkeys=args.nkeys, plane=args.plane,
            command=command,
        )  # fmt: skip
    except (AclError, _subjects.SubjectError) as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename}: {exc.strerror}") from exc
    print(
        f"wrote {args.conf} (nats-server authorization, {count} users) and {args.credentials} "
        "(mode 0600; pass it to actorbus run/call/ping/describe/tracer --credentials)",
        flush=True,
    )
    return 0


def load_credentials_option(args: Any) -> Credentials | None:
    """``--credentials`` or ``$ACTORBUS_CREDENTIALS``; a bad file is a one-line usage error."""
    from .._transport.credentials import CredentialsError, resolve_credentials
    from .common import CliError

    try:
        return resolve_credentials(getattr(args, "credentials", None))
    except CredentialsError as exc:
        raise CliError(str(exc)) from exc


def credentials_option(p: argparse.ArgumentParser, note: str = "") -> None:
    """``--credentials FILE`` of the commands that connect to the bus."""
    p.add_argument(
        "--credentials", metavar="FILE",
        help=note or "credentials file from 'actorbus acl' (default: $ACTORBUS_CREDENTIALS)",
    )  # fmt: skip


def add_acl_parser(sub: Any) -> None:
    acl = sub.add_parser("acl", help="write a nats-server authorization config and credentials")
    acl.add_argument("targets", nargs="+", metavar="TARGET", help="as for 'actorbus run'")
    acl.add_argument("--conf", required=True, metavar="FILE", help="nats-server config to write")
    acl.add_argument(
        "--credentials", required=True, metavar="FILE", help="credentials file to write (0600)"
    )
    acl.add_argument("--nkeys", action="store_true", help="nkey pairs instead of passwords")
    acl.add_argument("--plane", help="pin the permissions to one plane (default: any plane)")
