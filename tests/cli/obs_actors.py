"""Actors for the end-to-end observability test: an endpoint that fires an event, two sinks."""

from __future__ import annotations

from actorbus import Actor, endpoint, event, sink


class Accounts(Actor):
    hostname = "accounts.obs.test"

    @event
    async def on_registered(self, name: str) -> bool: ...  # type: ignore[empty-body]

    @endpoint
    async def register(self, name: str) -> int:
        agreed = 0
        async for reply in self.on_registered(name=name):
            agreed += 1 if reply.ok and reply.value else 0
        return agreed


class Mailer(Actor):
    hostname = "mailer.obs.test"

    @sink(Accounts.on_registered)
    async def welcome(self, name: str) -> bool:
        return True


class Ledger(Actor):
    hostname = "ledger.obs.test"

    @sink(Accounts.on_registered)
    async def open_account(self, name: str) -> bool:
        return True
