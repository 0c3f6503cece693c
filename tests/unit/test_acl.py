"""Permissions derived from declarations (pure: no server)."""

from __future__ import annotations

import pytest

from actorbus import Actor, endpoint, event, sink
from actorbus._cli.acl import AclError, derive_permissions
from actorbus._wire.subjects import matches


class Users(Actor):
    hostname = "users.example"

    @event
    async def on_gone(self, user_id: str) -> bool: ...

    @endpoint(port=417)  # an endpoint on the event port: only its own subject opens
    async def odd(self) -> int:
        return 1

    @endpoint(port=444)
    async def admin(self) -> int:
        return 1


class Files(Actor):
    hostname = "files.example"

    @sink(Users.on_gone, queue="files-q")
    async def purge(self, user_id: str) -> bool:
        return True


class Api(Actor):
    hostname = "api.users.example"  # nested under users.example


def _can(allow: list[str], deny: list[str], subject: str) -> bool:
    """NATS semantics for plain subjects: some allow matches and no deny does."""
    return any(matches(p, subject) for p in allow) and not any(matches(p, subject) for p in deny)


def test_only_the_source_publishes_its_events() -> None:
    perms, edge = derive_permissions([Users, Files, Api], "p")
    event_subject = "p.417.example.users.|.POST.on-gone"
    assert _can(perms["users.example"].publish, perms["users.example"].publish_deny, event_subject)
    for who in (perms["files.example"], perms["api.users.example"], edge):
        assert not _can(who.publish, who.publish_deny, event_subject)
        # the endpoint sharing port 417 stays callable, the other request ports too
        assert _can(who.publish, who.publish_deny, "p.417.example.users.|.POST.odd")
        assert _can(who.publish, who.publish_deny, "p.444.example.users.|.POST.admin")
        assert _can(who.publish, who.publish_deny, "p.443.example.files.~all.|.POST.x")
    # the source may cancel its sinks' replicas, nobody else's
    users = perms["users.example"]
    assert _can(users.publish, users.publish_deny, "p.417.example.files.~abc.|.POST.on-gone")
    assert not _can(users.publish, users.publish_deny, "p.417.example.other.~abc.|.POST.on-gone")


def test_subscriptions_stay_on_the_own_host_and_queue() -> None:
    perms, edge = derive_permissions([Users, Files, Api], "*")
    files = perms["files.example"]
    assert "*.417.example.users.|.POST.on-gone files-q" in files.subscribe
    assert "*.*.example.files.>" in files.subscribe
    assert not any(matches(p, "x.443.example.users.|.POST.admin") for p in files.subscribe)
    assert not any(matches(p, "x.r.~.example.users.~a.1") for p in files.subscribe)
    assert not any(matches(p, "x.r.files~example.example.users.~a.1") for p in files.subscribe)
    assert any(matches(p, "x.r.users~example.example.files.~a.1") for p in files.subscribe)
    # a host's rights do not reach the known hosts nested under it
    assert "*.*.example.users.api.>" in perms["users.example"].subscribe_deny
    assert "*.r.*.example.users.api.>" in perms["users.example"].subscribe_deny
    assert edge.subscribe[0] == "*.r.*.actorbus.>"


def test_replies_only_in_the_own_name() -> None:
    """An actor answers calls as itself: never in another host's name, never on the
    server's own reply subject (its no-responders status)."""
    perms, _ = derive_permissions([Users, Files, Api], "p")
    files = perms["files.example"]
    may = lambda subject: _can(files.publish, files.publish_deny, subject)  # noqa: E731
    assert may("p.r.files~example.example.users.~a1.1f")  # its own answer to users
    assert not may("p.r.users~example.example.api.~a1.1f")  # users's answer, forged
    assert not may("p.r.~.example.users.~a1.1f")  # the server's no-responders status
    assert not may("p.r.files~example~x.example.users.~a1.1f")  # a look-alike token


def test_edge_domain_and_bad_planes_are_refused() -> None:
    class Sneaky(Actor):
        hostname = "cli.actorbus"

    with pytest.raises(AclError, match="reserved for edge clients"):
        derive_permissions([Sneaky])
    with pytest.raises(ValueError, match="plane"):
        derive_permissions([Users], "bad plane")
