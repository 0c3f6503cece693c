"""Who may call a handler: ``callers=[...]`` on ``@endpoint`` and ``@sink``, or on the class.

The runtime answers 403 to any other caller; ``actorbus acl`` turns the same lists into
publish permissions, so that nats-server refuses the request before it is sent. A caller is
the hostname a request's subject names as its source, which nats-server verifies under those
ACLs (on a bus without them it is only a claim).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._wire import subjects as _subjects

__all__ = ["EDGE_SUFFIX", "Callers", "check_callers", "effective_callers"]

#: Edge clients (the command line, `App` edge callers, the HTTP ingress) live under this domain.
EDGE_SUFFIX = "." + _subjects.EDGE_DOMAIN


class Callers:
    """The hosts a handler admits; ``edge`` admits every host under ``.actorbus`` too."""

    __slots__ = ("edge", "hosts")

    def __init__(self, hosts: Iterable[str], *, edge: bool = False) -> None:
        self.hosts = frozenset(hosts)
        self.edge = edge

    def admits(self, host: str) -> bool:
        return host in self.hosts or (self.edge and host.endswith(EDGE_SUFFIX))

    def __repr__(self) -> str:
        return f"Callers({sorted(self.hosts)}, edge={self.edge})"


def check_callers(value: Any, what: str) -> frozenset[str] | None:
    """A ``callers=`` value → the hostnames it lists (None: anyone); TypeError or
    `SubjectError` naming ``what`` for anything else."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{what}: callers must be a list of hostnames, got {value!r}")
    hosts = list(value)
    if not hosts:
        raise ValueError(f"{what}: callers=[] admits nobody; leave it out to admit anyone")
    for host in hosts:
        try:
            _subjects.validate_hostname(host)
        except _subjects.SubjectError as exc:
            raise _subjects.SubjectError(f"{what}: callers: {exc}") from None
    return frozenset(hosts)


def effective_callers(
    own: frozenset[str] | None, of_actor: frozenset[str] | None, source: str | None = None
) -> Callers | None:
    """Whom a handler admits, from its own list, else its class's. An endpoint: those, or
    anyone (None). A sink of an event of ``source``: that source always, plus those, or else
    the edge (so ``actorbus call --multicast`` can fire an event where no ACL forbids it)."""
    listed = own if own is not None else of_actor
    if source is None:
        return None if listed is None else Callers(listed)
    if listed is None:
        return Callers([source], edge=True)
    return Callers([source, *listed])
