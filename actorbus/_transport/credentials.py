"""Per-actor NATS identities (stdlib only): the credentials file written by ``actorbus acl``.

The file is JSON, mode 0600, one entry per actor hostname plus one for the edges (the command
line, `App` edge clients, the tracer)::

    {"actorbus-credentials": 1,
     "edge": {"user": "edge", "password": "..."},
     "hosts": {"users.example": {"user": "users.example", "password": "..."},
               "files.example": {"nkey": "U...", "seed": "SU..."}}}

An `Identity` never shows its secret in ``repr`` or ``str``; errors name the file and the entry,
never a value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import TransportError

__all__ = [
    "CREDENTIALS_ENV",
    "Credentials",
    "CredentialsError",
    "Identity",
    "load_credentials",
    "resolve_credentials",
    "with_user",
    "write_credentials",
]

#: Environment variable naming the credentials file when none is given explicitly.
CREDENTIALS_ENV = "ACTORBUS_CREDENTIALS"
_FORMAT_KEY = "actorbus-credentials"
_FORMAT = 1
#: Users and passwords travel as URL userinfo, so they keep to characters a URL takes as is.
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


class CredentialsError(TransportError):
    """The credentials file is missing, unreadable or malformed (the message names no secret)."""


@dataclass(frozen=True)
class Identity:
    """Who one NATS connection authenticates as: user and password, or an nkey and its seed."""

    name: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    nkey: str | None = None
    seed: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if bool(self.user) == bool(self.nkey):
            raise CredentialsError(f"identity {self.name!r}: give either a user or an nkey")
        if self.user and not self.password:
            raise CredentialsError(f"identity {self.name!r}: user {self.user!r} has no password")
        if self.nkey and not self.seed:
            raise CredentialsError(f"identity {self.name!r}: nkey has no seed")
        for what, value in (("user", self.user), ("password", self.password)):
            if value and not _URL_SAFE.match(value):
                raise CredentialsError(
                    f"identity {self.name!r}: the {what} may use only letters, digits and . _ ~ -"
                )

    @property
    def secrets(self) -> list[str]:
        """The values that must never be shown (for scrubbing error messages)."""
        return [s for s in (self.password, self.seed) if s]

    def to_json(self) -> dict[str, str]:
        if self.user:
            return {"user": self.user, "password": self.password or ""}
        return {"nkey": self.nkey or "", "seed": self.seed or ""}

    @classmethod
    def from_json(cls, name: str, data: Any) -> Identity:
        if not isinstance(data, Mapping) or not all(isinstance(v, str) for v in data.values()):
            raise CredentialsError(f"identity {name!r}: expected an object of strings")
        unknown = set(data) - {"user", "password", "nkey", "seed"}
        if unknown:
            raise CredentialsError(f"identity {name!r}: unknown keys {sorted(unknown)}")
        return cls(name, data.get("user"), data.get("password"), data.get("nkey"), data.get("seed"))


@dataclass(frozen=True)
class Credentials:
    """The identities of one deployment: one per actor hostname, and the edge one."""

    edge: Identity | None = None
    hosts: Mapping[str, Identity] = field(default_factory=dict)
    source: str = ""

    def for_host(self, host: str) -> Identity | None:
        return self.hosts.get(host)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {_FORMAT_KEY: _FORMAT}
        if self.edge is not None:
            out["edge"] = self.edge.to_json()
        out["hosts"] = {host: ident.to_json() for host, ident in sorted(self.hosts.items())}
        return out


def load_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Read a credentials file; raises `CredentialsError` naming the file and what is wrong."""
    where = os.fspath(path)
    try:
        with open(where, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CredentialsError(f"credentials file not found: {where}") from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot read the credentials file {where}: {exc.strerror}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CredentialsError(
            f"{where}: not a JSON credentials file (make one with 'actorbus acl')"
        ) from None
    if not isinstance(data, dict) or data.get(_FORMAT_KEY) != _FORMAT:
        raise CredentialsError(f"{where}: not an actorbus credentials file (version {_FORMAT})")
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise CredentialsError(f"{where}: 'hosts' must be an object")
    try:
        edge = Identity.from_json("edge", data["edge"]) if "edge" in data else None
        table = {str(h): Identity.from_json(str(h), v) for h, v in hosts.items()}
    except CredentialsError as exc:
        raise CredentialsError(f"{where}: {exc}") from None
    return Credentials(edge, table, os.path.abspath(where))


def resolve_credentials(given: str | os.PathLike[str] | Credentials | None) -> Credentials | None:
    """An explicit file or `Credentials`, else ``$ACTORBUS_CREDENTIALS``, else None."""
    if isinstance(given, Credentials):
        return given
    path = given if given is not None else os.environ.get(CREDENTIALS_ENV) or None
    return None if path is None else load_credentials(path)


def write_credentials(path: str | os.PathLike[str], creds: Credentials) -> None:
    """Write ``creds`` readable by the owner only (mode 0600, also when the file existed)."""
    text = json.dumps(creds.to_json(), indent=2) + "\n"
    write_private(path, text)


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Create or replace a file with mode 0600 before any byte of ``text`` reaches it."""
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def with_user(urls: str, identity: Identity) -> str:
    """Put ``identity``'s user and password into each comma-separated URL (replacing any)."""
    if not identity.user:
        return urls
    out = []
    for url in (part.strip() for part in urls.split(",")):
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, sep, rest = "nats", "://", url
        hostpart = rest.rpartition("@")[2]
        out.append(f"{scheme}://{identity.user}:{identity.password}@{hostpart}")
    return ",".join(out)
