"""Delayed acks: a reply within ``ack_delay`` stands in for the ack (one message fewer per call);
the calls still running after it are acked by one long-lived task per hub (shared by every
actor on that connection), well inside the caller's ack window."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import trio

from .._wire import frames as _frames
from .intake import Key

__all__ = ["AckSender", "Answer"]

Answer: TypeAlias = Callable[[str, _frames.Frame], None]


class AckSender:
    """The acks one hub's servers owe; `run` sends those that came due."""

    def __init__(self, delay: float) -> None:
        self._delay = delay
        # key → (send, reply subject, ack frame, since): the ack is built when owed, cheaply,
        # so that the sender needs nothing of the server that owes it.
        # Keyed by the serving instance too: every sink of one multicast sees the same call key.
        self.owed: dict[tuple[str, Key], tuple[Answer, str, _frames.Ack, float]] = {}
        self._recent = False  # a request came in since the sender last looked
        self._wakeup: trio.Event | None = None
        self.running = False

    def owe(self, key: Key, send: Answer, reply: str, ack: _frames.Ack, now: float) -> None:
        """``ack`` goes to ``reply`` (through ``send``) unless `settle` comes within the delay."""
        self.owed[ack.from_instance, key] = (send, reply, ack, now)
        self._recent = True
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def settle(self, instance: str, key: Key) -> None:
        """``instance``'s call was answered (or given up): it needs no ack any more."""
        self.owed.pop((instance, key), None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Under load look every ``delay`` (not once per request); park only after a whole
        quiet period, so an idle hub costs nothing."""
        delay, owed = self._delay, self.owed
        self.running = True
        task_status.started()
        try:
            while True:
                if not owed and not self._recent:
                    self._wakeup = wakeup = trio.Event()
                    await wakeup.wait()
                self._recent = False
                await trio.sleep(delay)
                due = trio.current_time() - delay
                for key, (send, reply, ack, since) in list(owed.items()):
                    if since <= due:
                        del owed[key]
                        send(reply, ack)
        finally:
            self.running = False
