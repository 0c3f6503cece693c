"""``python -m tools.bench``: actorbus over NATS against raw nats-py, side by side.

This package ``__init__`` imports nothing on purpose: ``tools.bench.raw_nats`` runs in a plain
asyncio process that must never import ``trio_asyncio`` (nor actorbus's NATS transport), and
importing a submodule runs this file first.
"""
