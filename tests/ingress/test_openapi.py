"""OpenAPI 3.1 documents and the index page through ``actorbus run --http``: valid by
openapi-spec-validator, and schemathesis finds no 5xx and no answer that breaks the document."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import trio
from openapi_spec_validator import validate

from .conftest import ACTORS, served

pytestmark = [pytest.mark.nats, pytest.mark.slow]

EVENTS = "examples/events"


async def test_the_documents_validate(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane, targets=(ACTORS, EVENTS)) as s:
        whole = (await s.client.get("/openapi.json")).json()
        validate(whole)
        assert whole["openapi"] == "3.1.0"
        assert "get" in whole["paths"]["/shop.example/sum"]
        assert "post" in whole["paths"]["/users.example/delete-user"]
        assert not [p for p in whole["paths"] if ":444" in p]  # the firewall's closed port
        shop = (await s.client.get("/shop.example/openapi.json")).json()
        validate(shop)
        assert {p.split("/")[1] for p in shop["paths"]} == {"shop.example"}
        query = {p["name"]: p for p in shop["paths"]["/shop.example/sum"]["get"]["parameters"]}
        assert query["a"]["required"] and query["a"]["schema"] == {"type": "integer"}
        item = shop["paths"]["/shop.example/add-item"]["post"]["requestBody"]
        ref = item["content"]["application/json"]["schema"]["properties"]["item"]["$ref"]
        assert ref == "#/components/schemas/shop.example.Item"
        assert "shop.example.Item" in shop["components"]["schemas"]
        item = shop["paths"]["/shop.example/items/{id}"]["get"]
        assert item["parameters"] == [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ]
        assert "/shop.example/files/{rest}" in shop["paths"]
        r = await s.client.get("/nobody.example/openapi.json")
        assert r.status_code == 404


async def test_the_index_lists_the_hosts_and_fetches_nothing(nats_url: str, plane: str) -> None:
    async with served(nats_url, plane, targets=(ACTORS, EVENTS)) as s:
        r = await s.client.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = r.text
        for host in ("shop.example", "users.example", "files.example"):
            assert f'href="/{host}/openapi.json"' in page
        assert "POST /users.example/delete-user" in page
        assert "://" not in page and "<script" not in page and "@import" not in page


def _schemathesis() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    return str(found) if found.exists() else (shutil.which("schemathesis") or "schemathesis")


#: No 5xx for any input, and every answer as the document says (status, type, schema, headers).
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance",
])  # fmt: skip


async def test_schemathesis_finds_nothing_in_the_examples(
    nats_url: str, plane: str, tmp_path: Path
) -> None:
    examples = (EVENTS, "examples/hello", "examples/calculator", "examples/supervised")
    async with served(nats_url, plane, targets=examples) as s:
        argv = [
            _schemathesis(), "run", f"{s.url}/openapi.json", "--checks", CHECKS,
            "--max-examples", "25", "--seed", "23", "--no-color",
            "--generation-database", "none", "--request-timeout", "20",
            "--report-dir", str(tmp_path / "report"),
        ]  # fmt: skip
        with trio.fail_after(300):
            done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True,
                                          check=False, cwd=tmp_path)  # fmt: skip
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, out
    assert re.search(r"Operations:\s+7 selected", out), out
    # Warnings about the examples' own rules (an unknown dish is 404) are not failures.
    tally = re.search(r"(\d+) generated, (\d+) passed\n", out)
    assert tally and tally[1] == tally[2] and int(tally[1]) > 100, out
