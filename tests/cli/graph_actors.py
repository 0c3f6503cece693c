"""Two actors that call each other directly (a cycle `actorbus graph` names), and a third that
only calls one of them and sinks an event (no cycle through it)."""

from __future__ import annotations

from typing import Any

import trio

from actorbus import Actor, endpoint, event, sink


class Orders(Actor):
    hostname = "orders.graph-test"

    @event
    async def on_ordered(self, item: str) -> None: ...

    @endpoint
    async def order(self, item: str) -> int:
        await self.on_ordered(item=item)
        stock: int = await self.client(Inventory).reserve(item=item)
        return stock

    @endpoint
    async def price(self, item: str) -> int:
        return len(item)


class Inventory(Actor):
    hostname = "inventory.graph-test"

    @endpoint
    async def reserve(self, item: str) -> int:
        price: int = await self.client(Orders).price(item=item)  # back to orders: a cycle
        return price


class Billing(Actor):
    hostname = "billing.graph-test"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.billed = trio.Event()

    @sink(Orders.on_ordered)
    async def bill(self, item: str) -> None:
        async for reply in self.client(Inventory).multicast.reserve(item=item):
            reply.value  # noqa: B018 - raises if it failed
        self.billed.set()
