"""The NATS service API ($SRV) through the real transport; CLI and target parsing units."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from actorbus import App
from actorbus._cli.main import build_body, main, parse_target, parse_value
from actorbus._cli.supervisor import Backoff
from actorbus._cli.targets import TargetError, load_targets
from actorbus._runtime.control import micro_name
from actorbus._transport.base import Message

from .cli_actors import Flaky, Slow
from .helpers import ACTORS


@pytest.mark.nats
async def test_srv_ping_and_info_answer_over_nats(nats_url: str, plane: str) -> None:
    async with App(Slow(), Slow(), bus=nats_url, plane=plane) as app:
        ids = {a.instance for a in app.actors}
        got: list[dict[str, Any]] = []
        changed = trio.Event()

        def deliver(msg: Message) -> None:
            got.append(json.loads(msg.data))
            changed.set()

        inbox = f"_INBOX.{plane}"
        sub = await app.transport.subscribe(inbox + ".>", deliver)

        async def ask(subject: str, want: int) -> list[dict[str, Any]]:
            nonlocal changed
            got.clear()
            app.transport.publish(subject, b"", reply=f"{inbox}.1")
            with trio.fail_after(5):
                while len([g for g in got if g["id"] in ids]) < want:
                    changed = trio.Event()
                    await changed.wait()
            return [g for g in got if g["id"] in ids]

        pings = await ask("$SRV.PING", 2)
        assert {p["type"] for p in pings} == {"io.nats.micro.v1.ping_response"}
        assert {p["name"] for p in pings} == {micro_name("slow.cli.test")} == {"slow_cli_test"}
        assert {p["version"] for p in pings} == {"1.2.3"}
        assert pings[0]["metadata"]["actorbus.plane"] == plane

        one = sorted(ids)[0]
        infos = await ask(f"$SRV.INFO.slow_cli_test.{one}", 1)
        assert len(infos) == 1 and infos[0]["id"] == one
        endpoints = {e["name"]: e for e in infos[0]["endpoints"]}
        assert {"hello", "nap", "fail"} <= endpoints.keys()
        assert endpoints["hello"]["queue_group"] and plane in endpoints["hello"]["subject"]

        stats = await ask("$SRV.STATS.slow_cli_test", 2)
        assert all(s["type"] == "io.nats.micro.v1.stats_response" for s in stats)
        assert all(e["num_requests"] == 0 for s in stats for e in s["endpoints"])
        assert all(s["wire"]["dropped"] == 0 for s in stats)  # events lost past a full inbox

        slow = app.client(Slow)
        for name in ("a", "b", "c"):
            await slow.hello(name=name)
        with pytest.raises(Exception, match="refused on purpose"):
            await slow.fail(status=409)
        stats = await ask("$SRV.STATS.slow_cli_test", 2)
        per = [{e["name"]: e for e in s["endpoints"]} for s in stats]
        assert sum(p["hello"]["num_requests"] for p in per) == 3
        assert sum(p["hello"]["num_errors"] for p in per) == 0
        assert sum(p["fail"]["num_requests"] for p in per) == 1
        failed = [p["fail"] for p in per if p["fail"]["num_errors"]]
        assert len(failed) == 1 and failed[0]["last_error"].startswith("409 HTTPError")
        for p in per:
            hello = p["hello"]
            if hello["num_requests"]:
                assert hello["processing_time"] > 0
                avg = hello["processing_time"] // hello["num_requests"]
                assert hello["average_processing_time"] == avg
        await sub.unsubscribe()


def test_parse_value_and_body() -> None:
    assert parse_value("5") == 5
    assert parse_value("true") is True
    assert parse_value('{"a": [1]}') == {"a": [1]}
    assert parse_value("hello world") == "hello world"
    assert parse_value("") == ""
    assert build_body('{"a": 1, "b": 2}', ["b=3", "c=x=y"]) == {"a": 1, "b": 3, "c": "x=y"}
    with pytest.raises(ValueError, match="JSON object"):
        build_body("[1]", [])
    with pytest.raises(ValueError, match="key=value"):
        build_body(None, ["novalue"])


def test_parse_target() -> None:
    assert parse_target("users.example/delete-user", 443) == ("users.example", 443, "/delete-user")
    assert parse_target("users.example:444/a/b", 443) == ("users.example", 444, "/a/b")
    assert parse_target("https://x.example/", 443) == ("x.example", 443, "/")
    with pytest.raises(ValueError):
        parse_target("users.example", 443)


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff(first=0.5, cap=30)
    delays = [b.next() for _ in range(9)]
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert b.crash_loop
    b.ran_for(5)
    assert b.next() == 30
    b.ran_for(60)
    assert b.next() == 0.5


def test_load_targets_file_class_and_folder(tmp_path: Path) -> None:
    hosts = [c.hostname for c in load_targets([ACTORS])]
    assert hosts == [Slow.hostname, Flaky.hostname]
    assert [c.hostname for c in load_targets([ACTORS + ":Flaky"])] == [Flaky.hostname]
    assert load_targets([f"{Slow.__module__}:Slow"]) == [Slow]
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "alpha_actor.py").write_text(
        "from actorbus import Actor\nclass Alpha(Actor):\n    hostname = 'alpha.example'\n"
    )
    (folder / "beta_actor.py").write_text(
        "from alpha_actor import Alpha\nclass Beta(Alpha):\n    hostname = 'beta.example'\n"
    )
    (folder / "test_alpha_actor.py").write_text("raise RuntimeError('tests are not imported')\n")
    found = load_targets([str(folder)])
    assert [c.hostname for c in found] == ["alpha.example", "beta.example"]
    with pytest.raises(TargetError, match="no such file"):
        load_targets([str(tmp_path / "nope.py")])
    with pytest.raises(TargetError, match="not an Actor"):
        load_targets([ACTORS + ":log"])


def test_trace_without_the_tracer_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "actorbus._tracer.websocket", None)
    assert main(["trace"]) == 2
    assert "live tracer is not available" in capsys.readouterr().err
