"""A durable sink run by ``actorbus run`` in the SIGKILL case: it prints each event it handled."""

from __future__ import annotations

import os

import trio

from actorbus import Actor, current_request, sink
from tests.durable.actors import Users


class Slow(Actor):
    hostname = "slow.example"
    max_concurrent = 4

    @sink(Users.on_user_deleted, durable=True)
    async def on_user_deleted(self, user_id: int) -> str:
        await trio.sleep(0.002)  # the work itself
        if str(user_id) == os.environ.get("HOLD_EVENT"):
            print(f"HOLDING {user_id}", flush=True)
            await trio.sleep_forever()  # in hand when the test kills the process
        req = current_request()
        assert req is not None
        print(f"HANDLED {user_id} {req.delivered}", flush=True)
        return "slow"
