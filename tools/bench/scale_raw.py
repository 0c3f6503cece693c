"""The raw nats-py side of the scale benches: gather sinks spread over several processes.

``python -m tools.bench.scale_raw sinks --url URL --sizes N --shard I/S`` subscribes, on the
gather-to-N subject, the queues ``sink<i>`` with ``i % S == I`` and answers each message (the
raw counterpart of ``tools.bench.scale_side sinks``). Plain asyncio, never trio_asyncio.
"""

from __future__ import annotations

import argparse
import asyncio

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from .common import emit, raw_gather_subject, read_command, ready


async def sinks(url: str, n: int, shard: int, shards: int) -> None:
    nc: Client = await nats.connect(url, name=f"bench-raw-sinks{shard}")

    async def echo(msg: Msg) -> None:
        await nc.publish(msg.reply, msg.data)

    for i in range(shard, n, shards):
        await nc.subscribe(raw_gather_subject(n), queue=f"sink{i}", cb=echo)
    await nc.flush()
    ready()
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, read_command) is not None:
        emit({"ok": True})
    await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.scale_raw")
    parser.add_argument("role", choices=["sinks"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--sizes", type=int, default=1000)
    parser.add_argument("--shard", default="0/1")
    args = parser.parse_args()
    shard, shards = (int(x) for x in args.shard.split("/"))
    asyncio.run(sinks(args.url, args.sizes, shard, shards))


if __name__ == "__main__":
    main()
