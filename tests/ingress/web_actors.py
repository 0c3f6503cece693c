"""Actors the ingress tests reach over HTTP (run by ``actorbus run ... --http``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import trio

from actorbus import Actor, HTTPError, HttpResponse, endpoint
from actorbus._runtime.context import current_request

PAGE = """<!doctype html><html><body><p id="answer">waiting</p>
<script>
window.answered = fetch("/shop.example/sum?a=2&b=40").then(r => r.json()).then(v => {
  document.getElementById("answer").textContent = "sum is " + v;
});
</script></body></html>"""


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


class Shop(Actor):
    """A small shop: sums, echoes, slow and failing endpoints, web answers."""

    hostname = "shop.example"

    def __init__(self) -> None:
        super().__init__()
        self.release = trio.Event()
        self.held = 0
        self.more_held = trio.Event()

    @endpoint("GET /sum", max_concurrent=1000)  # the 1,000-concurrent-requests test
    async def sum(self, a: int, b: int = 0) -> int:
        """Adds two integers (query arguments are typed by these hints)."""
        return a + b

    @endpoint
    async def echo(self, text: str) -> str:
        return text

    @endpoint("GET /echo-get")
    async def echo_get(self, text: str) -> str:
        return text

    @endpoint
    async def add_item(
        self, item: Item, count: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    ) -> list[Item]:
        """Takes a structured argument from a JSON body."""
        return [item] * count

    @endpoint
    async def slow(self, seconds: float) -> str:
        await trio.sleep(seconds)
        return "done"

    @endpoint
    async def hold(self) -> str:
        """Waits until /let-go is called (the concurrency test holds requests open)."""
        self.held += 1
        self.more_held.set()
        self.more_held = trio.Event()
        await self.release.wait()
        return "released"

    @endpoint
    async def until_held(self, n: int) -> int:
        """Answers once ``n`` calls of /hold are waiting."""
        while self.held < n:
            await self.more_held.wait()
        return self.held

    @endpoint
    async def let_go(self) -> None:
        self.release.set()

    @endpoint
    async def fail(self) -> int:
        raise ValueError("the shop is on fire")

    @endpoint
    async def teapot(self) -> int:
        raise HTTPError(418, "I'm a teapot")

    @endpoint(port=444)
    async def inventory(self) -> dict[str, int]:
        return {"apples": 3}

    @endpoint("GET /page")
    async def page(self) -> HttpResponse:
        return HttpResponse(PAGE, content_type="text/html; charset=utf-8")

    @endpoint("GET /old")
    async def old(self) -> HttpResponse:
        return HttpResponse("", status=302, headers={"Location": "/shop.example/page"})

    @endpoint("GET /items/{id}")
    async def item(self, id: int) -> dict[str, int]:
        """One item, its id from the path."""
        return {"id": id}

    @endpoint("GET /files/{rest...}")
    async def file(self, rest: str) -> str:
        return rest

    @endpoint("ANY /any", port=0)
    async def any_method(self) -> list[object]:
        """Every method on every port: says which it got."""
        request = current_request.get()
        assert request is not None
        return [request.method, request.port]
