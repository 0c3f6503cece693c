"""Text logs name the actor instance, so replicas of one host are told apart."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import trio

from actorbus import Actor, App, endpoint
from actorbus._observe.logs import ContextFilter, TextFormatter

log = logging.getLogger("test_log_instance")


class Greeter(Actor):
    hostname = "greeter.logs.test"

    async def on_startup(self) -> None:
        log.info("starting up")

    @endpoint
    async def greet(self) -> str:
        log.info("greeting")
        return "hi"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter())
    handler.addFilter(ContextFilter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield out
    finally:
        log.removeHandler(handler)


async def test_text_logs_name_the_instance(text_log: io.StringIO, plane: str) -> None:
    one, two = Greeter(), Greeter()
    async with App(one, two, plane=plane) as app:
        with trio.fail_after(5):
            for _ in range(4):
                await app.client(Greeter).greet()
    lines = text_log.getvalue().splitlines()
    startups = [line for line in lines if "starting up" in line]
    assert sorted(line.rsplit("[", 1)[1] for line in startups) == sorted(
        f"greeter.logs.test/{a.instance}]" for a in (one, two)
    )
    greetings = [line for line in lines if "greeting" in line]
    assert len(greetings) == 4
    for line in greetings:
        tag = line.rsplit("[", 1)[1]
        assert tag.split(" ")[0] in {f"greeter.logs.test/{a.instance}" for a in (one, two)}
        assert " msg=app.actorbus:" in tag
