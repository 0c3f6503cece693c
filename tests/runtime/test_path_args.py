"""Path arguments, a greedy tail, method ANY and port 0, on the bus (memory and NATS): the
server reads the arguments from the path it was sent on, typed by the handler's hints."""

from __future__ import annotations

import msgspec
import pytest
import trio

from actorbus import Actor, App, BadRequest, Message, NoResponder, endpoint
from actorbus._runtime.context import current_request
from actorbus._wire import routes
from actorbus._wire.frames import EMPTY_BODY, encode_body


class Items(Actor):
    hostname = "items.example"

    @endpoint("GET /items/{id}")
    async def get_item(self, id: int, verbose: bool = False) -> dict[str, object]:
        return {"id": id, "verbose": verbose}

    @endpoint("GET /items/special")
    async def special(self) -> str:
        return "the literal route wins"

    @endpoint("GET /files/{rest...}")
    async def files(self, rest: str) -> str:
        return rest

    @endpoint("ANY /anything", port=0)
    async def anything(self) -> list[object]:
        req = current_request.get()
        assert req is not None
        return [req.method, req.port]


def raw(app: App, method: str, path: str, port: int = 443, body: object = None) -> object:
    data = EMPTY_BODY if body is None else encode_body(body)
    return app.caller.call("items.example", port, method, path, data, msgspec.msgpack.decode)


async def test_path_arguments_any_and_port_0(bus: str, plane: str) -> None:
    async with App(Items(), bus=bus, plane=plane) as app:
        # Through the generic call (what actorbus call and the ingress send).
        assert await raw(app, "GET", "/items/42") == {"id": 42, "verbose": False}
        assert await raw(app, "GET", "/items/7", body={"verbose": True}) == {
            "id": 7,
            "verbose": True,
        }
        assert await raw(app, "GET", "/items/special") == "the literal route wins"
        assert await raw(app, "GET", "/files/a/b.txt") == "a/b.txt"
        assert await raw(app, "GET", "/files/x") == "x"
        assert await raw(app, "DELETE", "/anything", port=444) == ["DELETE", 444]
        assert await raw(app, "PATCH", "/anything") == ["PATCH", 443]
        with pytest.raises(BadRequest, match="path argument 'id'"):
            await raw(app, "GET", "/items/not-a-number")
        with pytest.raises(NoResponder):
            await raw(app, "POST", "/items/42")  # the method is part of the route
        with pytest.raises(NoResponder):
            await raw(app, "GET", "/files")  # a greedy tail takes at least one segment
        # Through the typed proxy: the path is built from the arguments.
        items = app.client(Items)
        assert await items.get_item(id=5) == {"id": 5, "verbose": False}
        assert await items.files(rest="deep/er") == "deep/er"
        assert await items.anything() == ["POST", 443]
        with pytest.raises(BadRequest, match="may not contain '/'"):
            await call_texts_with_a_slash(app)


async def call_texts_with_a_slash(app: App) -> None:
    class Texts(Actor):
        hostname = "texts.example"

        @endpoint("GET /t/{name}")
        async def get(self, name: str) -> str:
            return name

    await app.client(Texts).get(name="a/b")


async def test_a_frame_that_disagrees_with_its_subject_is_refused(plane: str) -> None:
    async with App(Items(), bus="memory", plane=plane) as app:
        from actorbus._wire import frames, subjects

        faults: list[frames.Fault] = []
        refused = trio.Event()

        def on_reply(msg: Message) -> None:
            frame = frames.decode(msg.data)
            if isinstance(frame, frames.Fault):
                faults.append(frame)
                refused.set()

        reply = f"{plane}.test-reply"
        await app.transport.subscribe(reply, on_reply)
        frame = frames.Request(
            msg_id="1", from_host="x.example", from_instance="abc", host="items.example",
            port=443, method="GET", path="/items/1", depth=1, budget_ms=1000,
            body=EMPTY_BODY, token="t",
        )  # fmt: skip
        # Sent on /items/2's subject while it claims /items/1: refused, never served.
        subject = subjects.request_subject(
            plane, 443, "items.example", "GET", "/items/2", source="x.example"
        )
        app.transport.publish(subject, frames.encode(frame), reply=reply)
        with trio.fail_after(5):
            await refused.wait()
        assert faults[0].status == 400 and "not the subject" in faults[0].message


def test_patterns_are_pure_functions() -> None:
    assert routes.match_path("/items/{id}", "/items/42") == {"id": "42"}
    assert routes.match_path("/items/{id}", "/items/42/x") is None
    assert routes.match_path("/f/{rest...}", "/f/a/b") == {"rest": "a/b"}
    assert routes.fill_path("/items/{id}/{rest...}", {"id": 3, "rest": "a/b"}) == "/items/3/a/b"
    r = [("h", 443, "GET", "/items/{id}"), ("h", 443, "GET", "/items/x"), ("h", 0, "ANY", "/{p}")]
    assert routes.best_route(r, ("h", 443, "GET", "/items/x")) == r[1]
    assert routes.best_route(r, ("h", 443, "GET", "/items/y")) == r[0]
    assert routes.best_route(r, ("h", 444, "PUT", "/z")) == r[2]
    assert routes.best_route(r, ("h", 444, "PUT", "/z/z")) is None


def test_describe_shows_the_patterns() -> None:
    from actorbus._cli.describe import check_route, format_descriptions
    from actorbus._runtime.description import describe_actor

    desc = msgspec.to_builtins(describe_actor(Items()))
    text = format_descriptions([desc])
    assert "GET :443/items/{id}" in text and "ANY :*/anything" in text
    assert check_route(desc, "GET", 443, "/items/9")["name"] == "get_item"
    assert check_route(desc, "PUT", 8443, "/anything")["name"] == "anything"
    assert check_route(desc, "GET", 443, "/items/special")["name"] == "special"
