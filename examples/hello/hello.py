"""The smallest actor: one endpoint, called from outside on the in-process memory bus."""

from __future__ import annotations

import trio

from actorbus import Actor, App, config, endpoint


class Hello(Actor):
    """Greets whoever asks."""

    hostname = "hello.example"
    greeting: str = config("Hello", doc="the first word of every greeting")

    @endpoint("GET /hello")
    async def hello(self, name: str = "world") -> str:
        return f"{self.greeting}, {name}!"


async def main() -> None:
    async with App(Hello(), bus="memory") as app:
        hello = app.client(Hello)
        print(await hello.hello())
        print(await hello.hello(name="actorbus"))


if __name__ == "__main__":
    trio.run(main)
