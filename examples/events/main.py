"""The README demo: the user-deletion scenario on an embedded nats-server.

Run it with ``python -m examples.events`` (or ``python examples/events/main.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

if __package__ in (None, ""):  # run as a script: make `examples.events` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "examples.events"

from actorbus import App

from .sinks import CreditCards, Files, Groups
from .users import Users


async def main(bus: str = "embedded") -> None:
    async with App(Users(), Files(), CreditCards(), Groups(), bus=bus) as app:
        print(f"bus: {app.transport.describe()} (plane {app.plane})")
        users = app.client(Users)
        for email in ("ada@example.com", "bot@mailinator.com"):
            reg = await users.register(email=email)
            if reg.user_id:
                print(f"register {email}: registered as {reg.user_id}")
            else:
                print(f"register {email}: vetoed by {', '.join(reg.vetoed_by)}")
        purged = await users.delete_user(user_id="u1")
        print("delete_user u1: the sinks answered")
        for host, count in sorted(purged.items()):
            print(f"  {host:<22} purged {count} record(s)")


if __name__ == "__main__":
    trio.run(main)
