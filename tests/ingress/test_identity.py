"""Under the ACLs ``actorbus acl`` generates, the ingress connects as the edge identity and
its calls pass the server's permissions like any other caller's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from actorbus._transport.credentials import load_credentials
from actorbus._transport.embedded import EmbeddedServer
from tests.cli.helpers import actorbus, actorbus_env, running

from .conftest import ACTORS, ingress_url

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_the_ingress_calls_under_the_acls(tmp_path: Path) -> None:
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    done = await actorbus(
        "acl", ACTORS, "--conf", str(conf), "--credentials", str(creds), "--plane", "httpacl"
    )
    assert done.returncode == 0, done.stderr
    edge = load_credentials(creds).edge
    assert edge is not None and edge.password
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server:
        args = [ACTORS, "--nats", server.url, "--plane", "httpacl", "--trace-ws", "off"]
        args += ["--credentials", str(creds), "--http", "127.0.0.1:0"]
        async with running(*args, env=actorbus_env()) as run:
            url = await ingress_url(run)
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                r = await client.get("/shop.example/sum", params={"a": 40, "b": 2})
                assert (r.status_code, r.json()) == (200, 42), r.text
                r = await client.get("/shop.example/items/3")
                assert r.json() == {"id": 3}
        assert edge.password not in run.stderr + "\n".join(run.stdout)
