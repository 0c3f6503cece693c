"""An actor that says which process it runs in, for the ``--workers`` tests."""

from __future__ import annotations

import os

from actorbus import Actor, endpoint


class Pids(Actor):
    hostname = "pids.sec"

    @endpoint
    async def pid(self) -> int:
        return os.getpid()
