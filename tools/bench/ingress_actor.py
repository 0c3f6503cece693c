"""The responder of the ingress bench: one JSON endpoint (``actorbus run`` target)."""

from __future__ import annotations

from actorbus import Actor, endpoint


class BenchEcho(Actor):
    hostname = "bench-http.example"

    @endpoint
    async def echo(self, data: str) -> str:
        return data
