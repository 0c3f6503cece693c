# mypy: disable-error-code="empty-body"
"""The users service's API: what callers and sinks import. No implementation, no heavy imports.

`users.py` implements it (``class Users(UsersApi, Actor)``); `sinks.py` depends on this module
only, so the sinks' process never loads the users implementation.
"""

from __future__ import annotations

import msgspec

from actorbus import Api, endpoint, event


class Registration(msgspec.Struct):
    email: str
    user_id: str | None
    vetoed_by: list[str]


class UsersApi(Api):
    """Owns user records; other services react to its events."""

    hostname = "users.example"

    @event
    async def on_allow_register(self, email: str) -> bool:
        """Asked before registering: a sink returns False to veto."""

    @event
    async def on_registered(self, user_id: str, email: str) -> None:
        """Told after a user was registered."""

    @event
    async def on_user_deleted(self, user_id: str) -> int:
        """Told after a user was deleted; each sink answers how many records it purged."""

    @endpoint
    async def register(self, email: str) -> Registration:
        """Registers a user unless a sink vetoes the email."""

    @endpoint
    async def delete_user(self, user_id: str) -> dict[str, int]:
        """Deletes the user and returns what each sink purged, by sink host."""
