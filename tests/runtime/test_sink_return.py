"""A sink's return annotation must agree with its event's: replies are decoded with the event's
return type, so a mismatch would make every reply fail (and ``not reply.ok`` read as a veto)."""

from __future__ import annotations

from typing import Any

import pytest

from actorbus import Actor, event, sink


class Source(Actor):
    hostname = "source.example"

    @event
    async def on_thing(self, n: int) -> bool: ...


def test_sink_returning_another_type_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match=r"returns str, the event declares bool"):

        class Wrong(Actor):
            hostname = "wrong.example"

            @sink(Source.on_thing)
            async def handle(self, n: int) -> str:
                return "yes"


def test_sink_with_the_same_or_an_open_return_type_is_accepted() -> None:
    class Same(Actor):
        hostname = "same.example"

        @sink(Source.on_thing)
        async def handle(self, n: int) -> bool:
            return True

    class Open(Actor):
        hostname = "open.example"

        @sink(Source.on_thing)
        async def handle(self, n: int) -> Any:
            return True

    assert Same.host() == "same.example" and Open.host() == "open.example"
