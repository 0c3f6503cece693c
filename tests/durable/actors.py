"""Actors of the durable-sink tests: a users source, durable files and cards sinks, a live
groups sink. What each sink handled is kept in a class-level log the test reads."""

from __future__ import annotations

import trio

from actorbus import Actor, current_request, event, sink


class Users(Actor):
    hostname = "users.example"

    @event
    async def on_user_deleted(self, user_id: int) -> str: ...


class Handled:
    """Event ids each sink handled, with the delivery count, and a way to wait for them."""

    def __init__(self) -> None:
        self.ids: list[tuple[int, str, int]] = []
        self._changed = trio.Event()

    def add(self, user_id: int) -> None:
        req = current_request()
        assert req is not None
        self.ids.append((user_id, req.event_id, req.delivered))
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, count: int) -> None:
        while len({u for u, _, _ in self.ids}) < count:
            await self._changed.wait()


FILES = Handled()
CARDS = Handled()
GROUPS = Handled()
ONE = Handled()


class Files(Actor):
    hostname = "files.example"

    @sink(Users.on_user_deleted, durable=True)
    async def on_user_deleted(self, user_id: int) -> str:
        FILES.add(user_id)
        return "files"


class Cards(Actor):
    hostname = "cards.example"

    fail: set[int] = set()

    @sink(Users.on_user_deleted, durable=True, max_deliver=2)
    async def on_user_deleted(self, user_id: int) -> str:
        if user_id in Cards.fail:
            raise RuntimeError(f"card store down for user {user_id}")
        CARDS.add(user_id)
        return "cards"


class Groups(Actor):
    hostname = "groups.example"

    @sink(Users.on_user_deleted)
    async def on_user_deleted(self, user_id: int) -> str:
        GROUPS.add(user_id)
        return "groups"


class OneAtATime(Actor):
    """A durable sink host run as two replicas: each holds one event at a time."""

    hostname = "one.example"
    max_concurrent = 1
    seen: list[tuple[int, str]] = []

    @sink(Users.on_user_deleted, durable=True)
    async def on_user_deleted(self, user_id: int) -> str:
        OneAtATime.seen.append((user_id, self.instance))
        ONE.add(user_id)
        await trio.lowlevel.checkpoint()
        return self.instance


class Long(Actor):
    """A durable sink whose handler outlasts the ack wait several times over."""

    hostname = "long.example"
    seconds = 3.0

    @sink(Users.on_user_deleted, durable=True)
    async def on_user_deleted(self, user_id: int) -> str:
        await trio.sleep(Long.seconds)  # the work itself
        LONG.add(user_id)
        return self.instance


LONG = Handled()
