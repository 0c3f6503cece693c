"""The smaller stumbles of issue 25 (item 9): tickers and config in ``describe``, per-endpoint
counters on ``:888/stats``, an event fired from the command line, ``app.client(str)``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actorbus import Actor, App, config, endpoint, event, sink, ticker
from tests.cli.helpers import actorbus, actorbus_env


class Shop(Actor):
    """Sells things."""

    hostname = "shop.ops.test"
    greeting: str = config("hello", doc="said to every customer")

    @event
    async def on_sold(self, item: str) -> bool: ...

    @endpoint
    async def sell(self, item: str) -> int:
        return len(item)

    @ticker(seconds=3600)
    async def restock(self) -> None:
        """Fills the shelves."""


class Ledger(Actor):
    hostname = "ledger.ops.test"

    @sink(Shop.on_sold)
    async def record(self, item: str) -> bool:
        return item != "contraband"


async def test_client_of_a_string_is_a_type_error(app: App) -> None:
    with pytest.raises(
        TypeError, match="client\\(\\) takes an actor or API class such as Users, got the str"
    ):
        app.client("shop.ops.test")  # type: ignore[arg-type]


@pytest.mark.nats
@pytest.mark.slow
async def test_describe_stats_and_an_event_from_the_command_line(nats_url: str, plane: str) -> None:
    env = actorbus_env(NATS_URL=nats_url, ACTORBUS_PLANE=plane)
    async with App(Shop(), Ledger(), Ledger(), bus=nats_url, plane=plane):
        done = await actorbus("describe", "shop.ops.test", env=env)
        out = done.stdout.decode()
        assert "restock()  [ticker]  Fills the shelves." in out, out
        assert "every 3600 s" in out
        assert 'greeting: string = "hello"  said to every customer' in out
        done = await actorbus("describe", "shop.ops.test", "--json", env=env)
        (desc,) = json.loads(done.stdout)
        assert desc["tickers"] == [
            {"name": "restock", "seconds": 3600.0, "doc": "Fills the shelves."}
        ]
        assert desc["config"][0]["schema"] == {"type": "string", "default": "hello"}

        for item in ("tea", "cake"):
            done = await actorbus("call", "shop.ops.test/sell", f"item={item}", env=env)
            assert done.returncode == 0, done.stderr
        done = await actorbus("call", "shop.ops.test:888/stats", "--method", "GET", env=env)
        stats: dict[str, Any] = json.loads(done.stdout)
        assert stats["endpoints"]["sell"]["num_requests"] == 2
        assert stats["endpoints"]["sell"]["num_errors"] == 0

        done = await actorbus("call", "shop.ops.test/on-sold", "item=tea", env=env)
        assert done.returncode == 2
        assert "is an event: add --multicast" in done.stderr.decode()
        # An event fired from the command line reaches one replica of each sink host.
        done = await actorbus(
            "call", "shop.ops.test/on-sold", "--multicast", "item=contraband", env=env
        )
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert [(r["host"], r["ok"], r["value"]) for r in lines] == [
            ("ledger.ops.test", True, False)
        ]


def test_one_worker_is_singular() -> None:
    from actorbus._cli.supervisor import _count

    assert (_count(1), _count(2)) == ("1 worker", "2 workers")
