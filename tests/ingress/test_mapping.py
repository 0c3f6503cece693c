"""Every mapping rule of the ingress, over HTTP against ``actorbus run --http`` on a real
nats-server: arguments, statuses, error bodies, the port firewall, 404/405, web answers."""

from __future__ import annotations

import pytest

from .conftest import served

pytestmark = [pytest.mark.nats, pytest.mark.slow]


def error_of(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    error: dict[str, object] = body["error"]
    return error


async def test_calls_errors_and_routes(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane) as s:
        c = s.client
        # A JSON object body; the default port 443; 200 with the JSON return value.
        r = await c.post("/shop.example/echo", json={"text": "hi"})
        assert (r.status_code, r.json()) == (200, "hi")
        assert r.headers["content-type"] == "application/json"
        # curl -d sends a form content type: the body is still read as JSON.
        r = await c.post(
            "/shop.example/echo",
            content=b'{"text":"x"}',
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.json() == "x"
        # Query arguments are typed by the endpoint's schema: ints for int, text for str.
        r = await c.get("/shop.example/sum", params={"a": "5", "b": "7"})
        assert r.json() == 12
        r = await c.get("/shop.example/echo-get", params={"text": "5"})
        assert r.json() == "5"
        # Body and query together; a struct argument from the body.
        r = await c.post(
            "/shop.example/add-item?count=2", json={"item": {"name": "pear", "price": 1.5}}
        )
        assert r.json() == [{"name": "pear", "price": 1.5, "tags": []}] * 2
        # Bad arguments: 400 with the error body.
        r = await c.get("/shop.example/sum", params={"a": "five"})
        assert r.status_code == 400 and error_of(r)["type"] == "BadRequest"
        # A body that is not JSON, or JSON that is not an object: 400, one line.
        for body in (b"text=hi", b"[1, 2]", b"\xff\xfe"):
            r = await c.post("/shop.example/echo", content=body)
            assert r.status_code == 400, (body, r.text)
            assert error_of(r)["status"] == 400
        # A handler's exception: 500, its type and message, never its traceback.
        r = await c.post("/shop.example/fail")
        err = error_of(r)
        assert r.status_code == 500 and err["type"] == "ValueError"
        assert err["message"] == "the shop is on fire" and "traceback" not in err
        assert "Traceback" not in r.text
        # HTTPError chooses the status.
        r = await c.post("/shop.example/teapot")
        assert r.status_code == 418 and error_of(r)["message"] == "I'm a teapot"
        # Unknown host, unknown path: 404; a known path with the wrong method: 405 + Allow.
        r = await c.get("/nobody.example/x")
        assert r.status_code == 404 and error_of(r)["type"] == "NotFound"
        r = await c.post("/shop.example/no-such-thing")
        assert r.status_code == 404
        r = await c.get("/shop.example/echo")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        for bad in ("/Not_A_Host!/x", "/shop.example:99999/x", "/shop.example:x/echo"):
            r = await c.post(bad)
            assert r.status_code == 404, bad
        # The port firewall: only 443 by default; the control port 888 never.
        r = await c.post("/shop.example:444/inventory")
        assert r.status_code == 404 and "444" in str(error_of(r)["message"])
        r = await c.get("/shop.example:888/describe")
        assert r.status_code == 404
        r = await c.post("/shop.example:443/echo", json={"text": "explicit"})
        assert r.json() == "explicit"
        # Web answers: HttpResponse gives its own status, content type and headers.
        r = await c.get("/shop.example/page")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert '<p id="answer">' in r.text
        r = await c.get("/shop.example/old", follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == "/shop.example/page"


async def test_the_port_firewall_opens_what_it_is_told(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane, "--http-ports", "444", "--http-tracebacks") as s:
        r = await s.client.post("/shop.example:444/inventory")
        assert (r.status_code, r.json()) == (200, {"apples": 3})
        r = await s.client.post("/shop.example/echo", json={"text": "443 stays open"})
        assert r.status_code == 200
        r = await s.client.post("/shop.example:445/inventory")
        assert r.status_code == 404
        r = await s.client.get("/shop.example:888/describe")
        assert r.status_code == 404
        # The operator asked for tracebacks: a failing handler's comes back.
        r = await s.client.post("/shop.example/fail")
        assert "the shop is on fire" in str(error_of(r).get("traceback"))


async def test_port_888_cannot_be_opened(nats_url: str, plane: str) -> None:
    from tests.cli.helpers import actorbus

    from .conftest import ACTORS

    done = await actorbus(
        "run", ACTORS, "--nats", nats_url, "--plane", plane, "--http", "127.0.0.1:0",
        "--http-ports", "444,888",
    )  # fmt: skip
    err = done.stderr.decode().strip()
    assert done.returncode == 2, err
    assert len(err.splitlines()) == 1 and "888" in err and "Traceback" not in err


async def test_path_arguments_any_and_port_0(nats_url: str, plane: str) -> None:
    from tests.cli.helpers import actorbus

    async with served(nats_url, plane, "--http-ports", "444") as s:
        c = s.client
        r = await c.get("/shop.example/items/42")
        assert (r.status_code, r.json()) == (200, {"id": 42})
        r = await c.get("/shop.example/items/forty-two")
        assert r.status_code == 400 and "id" in r.json()["error"]["message"]
        r = await c.post("/shop.example/items/42")
        assert r.status_code == 405 and r.headers["allow"] == "GET"
        r = await c.get("/shop.example/files/a/b.txt")
        assert r.json() == "a/b.txt"
        r = await c.put("/shop.example/any")
        assert r.json() == ["PUT", 443]
        r = await c.delete("/shop.example:444/any")
        assert r.json() == ["DELETE", 444]
        r = await c.get("/shop.example:445/any")
        assert r.status_code == 404  # port 0 serves every port; the firewall still holds
        # actorbus call understands the same routes.
        bus = ("--nats", nats_url, "--plane", plane)
        done = await actorbus("call", "shop.example/items/7", "--method", "GET", *bus)
        assert done.returncode == 0 and done.stdout.decode().strip() == '{"id":7}', done.stderr
        done = await actorbus(
            "call", "shop.example/any", "--method", "PATCH", "--port", "444", *bus
        )
        assert done.stdout.decode().strip() == '["PATCH",444]', done.stderr
