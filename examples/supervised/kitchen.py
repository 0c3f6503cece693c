"""A kitchen that cooks slowly: run it under the supervisor and stop it mid-order.

actorbus run examples/supervised --replicas 2
actorbus call kitchen.example/cook dish=soup
actorbus ping
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from actorbus import Actor, HTTPError, config, endpoint, ticker

log = logging.getLogger("kitchen")


class Kitchen(Actor):
    """Cooks dishes; each order takes ``cook_seconds``."""

    hostname = "kitchen.example"
    version = "1.0.0"
    cook_seconds: float = config(0.5, doc="how long one dish takes")
    menu: list[str] = config(["soup", "salad", "stew"], doc="what can be ordered")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cooked = 0

    @endpoint
    async def cook(self, dish: str) -> str:
        if dish not in self.menu:
            raise HTTPError(404, f"{dish} is not on the menu")
        log.info("cooking %s", dish)
        await trio.sleep(self.cook_seconds)
        self.cooked += 1
        return f"{dish} is ready"

    @ticker(seconds=30)
    async def clean_up(self) -> None:
        log.info("cleaned up after %d dishes", self.cooked)

    async def on_shutdown(self) -> None:
        log.info("kitchen closed after %d dishes", self.cooked)
