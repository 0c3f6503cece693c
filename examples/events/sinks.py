"""Event sinks: each depends on the source's API (`UsersApi`), never on its implementation,
and the source never depends on them. Files and cards must go when their owner goes, even if
their service was down at that moment: those sinks are durable (JetStream consumers, at least
once); group memberships are live (at most once)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from actorbus import Actor, sink

from .users_api import UsersApi


class Files(Actor):
    """Stores users' files; makes a home folder on registration, purges it on deletion."""

    hostname = "files.example"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, list[str]] = defaultdict(list)

    @sink(UsersApi.on_registered)
    async def make_home(self, user_id: str, email: str) -> None:
        self.files[user_id] += ["README.txt", "photo.jpg"]

    @sink(UsersApi.on_user_deleted, durable=True)
    async def purge(self, user_id: str) -> int:
        return len(self.files.pop(user_id, []))  # idempotent: a redelivery purges nothing


class CreditCards(Actor):
    """Keeps cards on file; purges them when their owner goes."""

    hostname = "creditcards.example"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cards: dict[str, list[str]] = {"u1": ["visa-4242"]}

    @sink(UsersApi.on_user_deleted, durable=True)
    async def purge(self, user_id: str) -> int:
        return len(self.cards.pop(user_id, []))


class Groups(Actor):
    """Group memberships; also vetoes registrations from disposable email domains."""

    hostname = "groups.example"
    blocked_domains = ("mailinator.com", "example.invalid")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members: dict[str, set[str]] = {"admins": set(), "everyone": set()}

    @sink(UsersApi.on_allow_register)
    async def allow(self, email: str) -> bool:
        return not email.endswith(self.blocked_domains)

    @sink(UsersApi.on_registered)
    async def join(self, user_id: str, email: str) -> None:
        self.members["everyone"].add(user_id)

    @sink(UsersApi.on_user_deleted)
    async def purge(self, user_id: str) -> int:
        purged = 0
        for members in self.members.values():
            if user_id in members:
                members.discard(user_id)
                purged += 1
        return purged
