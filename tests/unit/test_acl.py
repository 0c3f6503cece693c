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
    users = perms["users.example"]
    assert _can(
        users.publish, users.publish_deny, "p.417.users~example.example.users.|.POST.on-gone"
    )
    for who, token in (
        (perms["files.example"], "files~example"),
        (perms["api.users.example"], "api~users~example"),
        (edge, "cli~actorbus"),
    ):
        fired = f"p.417.{token}.example.users.|.POST.on-gone"
        assert not _can(who.publish, who.publish_deny, fired)
        # the endpoint sharing port 417 stays callable, the other request ports too
        assert _can(who.publish, who.publish_deny, f"p.417.{token}.example.users.|.POST.odd")
        assert _can(who.publish, who.publish_deny, f"p.444.{token}.example.users.|.POST.admin")
        assert _can(who.publish, who.publish_deny, f"p.443.{token}.example.files.~all.|.POST.x")
    # the source may cancel its sinks' replicas
    cancel = "p.417.users~example.example.files.~abc.|.POST.on-gone"
    assert _can(users.publish, users.publish_deny, cancel)


def test_requests_only_under_the_own_source_token() -> None:
    """No actor can send a request that names another caller; the edge can name none of
    the actors either."""
    perms, edge = derive_permissions([Users, Files, Api], "p")
    files = perms["files.example"]
    may = lambda who, subject: _can(who.publish, who.publish_deny, subject)  # noqa: E731
    assert may(files, "p.443.files~example.example.users.|.POST.x")
    for forged in ("users~example", "api~users~example", "cli~actorbus", "files~example~x"):
        assert not may(files, f"p.443.{forged}.example.users.|.POST.x")
    assert not may(files, "p.888.files~example.example.users.|.GET.stats")  # control: edge's
    assert may(edge, "p.443.cli~actorbus.example.users.|.POST.x")
    assert may(edge, "p.888.cli~actorbus.example.users.|.GET.stats")
    for actor in ("users~example", "files~example", "api~users~example"):
        assert not may(edge, f"p.443.{actor}.example.users.|.POST.x")
    assert not may(edge, "p.888.all.|.ANNOUNCE.users~example")  # another's announcement
    assert may(edge, "p.888.all.|.GONE._") and may(edge, "p.888.all.|.ANNOUNCE._")


class Vault(Actor):
    hostname = "vault.example"
    callers = ["files.example"]

    @endpoint
    async def secret(self) -> str:
        return "s"

    @endpoint(callers=["users.example", "cli.actorbus"])
    async def audit(self) -> str:
        return "a"

    @sink(Users.on_gone, callers=["api.users.example"])
    async def forget(self, user_id: str) -> bool:
        return True


def test_callers_become_publish_denials() -> None:
    perms, edge = derive_permissions([Users, Files, Api, Vault], "p")
    may = lambda who, tok, path: _can(  # noqa: E731
        who.publish, who.publish_deny, f"p.443.{tok}.example.vault.|.POST.{path}"
    )
    assert may(perms["files.example"], "files~example", "secret")
    assert not may(perms["users.example"], "users~example", "secret")
    assert not may(edge, "cli~actorbus", "secret")
    assert may(perms["users.example"], "users~example", "audit")
    assert may(edge, "cli~actorbus", "audit")
    assert not may(perms["files.example"], "files~example", "audit")
    direct = "p.443.users~example.example.vault.~v1.|.POST.secret"  # one replica: the same
    assert not _can(perms["users.example"].publish, perms["users.example"].publish_deny, direct)
    # a sink's callers may fire its event besides the source (the other sinks refuse it)
    api = perms["api.users.example"]
    assert _can(
        api.publish, api.publish_deny, "p.417.api~users~example.example.users.|.POST.on-gone"
    )


def test_subscriptions_stay_on_the_own_host_and_queue() -> None:
    perms, edge = derive_permissions([Users, Files, Api], "*")
    files = perms["files.example"]
    assert "*.417.*.example.users.|.POST.on-gone files-q" in files.subscribe
    assert "*.*.*.example.files.>" in files.subscribe
    assert not any(matches(p, "x.443.a~b.example.users.|.POST.admin") for p in files.subscribe)
    assert not any(matches(p, "x.r.~.example.users.~a.1") for p in files.subscribe)
    assert not any(matches(p, "x.r.files~example.example.users.~a.1") for p in files.subscribe)
    assert any(matches(p, "x.r.users~example.example.files.~a.1") for p in files.subscribe)
    # a host's rights do not reach the known hosts nested under it
    assert "*.*.*.example.users.api.>" in perms["users.example"].subscribe_deny
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
