"""The event source: user management. It implements `UsersApi` (`users_api.py`), fires its
events and never imports (or knows) its sinks."""

from __future__ import annotations

from typing import Any

from actorbus import Actor, HTTPError, endpoint

from .users_api import Registration, UsersApi

__all__ = ["Registration", "Users"]


class Users(UsersApi, Actor):
    """Owns user records; other services react to its events (declared in `UsersApi`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.users: dict[str, str] = {}  # user id -> email
        self.registered = 0

    @endpoint
    async def register(self, email: str) -> Registration:
        vetoed_by = [
            reply.host
            async for reply in self.on_allow_register(email=email)
            if not reply.ok or reply.value is False
        ]
        if vetoed_by:
            return Registration(email, None, sorted(vetoed_by))
        self.registered += 1
        user_id = f"u{self.registered}"
        self.users[user_id] = email
        # Wait until every sink has set the user up, so a delete that follows finds it all.
        # (`await self.on_registered(...)` would fire and forget: sinks run it concurrently.)
        async for reply in self.on_registered(user_id=user_id, email=email):
            reply.value  # noqa: B018 - raises if a sink failed
        return Registration(email, user_id, [])

    @endpoint
    async def delete_user(self, user_id: str) -> dict[str, int]:
        """Deletes the user and returns what each sink purged, by sink host."""
        if self.users.pop(user_id, None) is None:
            raise HTTPError(404, f"no user {user_id}")
        purged: dict[str, int] = {}
        async for reply in self.on_user_deleted(user_id=user_id):
            purged[reply.host] = reply.value if reply.ok else -1
        return purged
