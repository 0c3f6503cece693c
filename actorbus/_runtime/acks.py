"""Delayed acks: a reply within ``ack_delay`` stands in for the ack (one message fewer per call);
the calls still running after it are acked by one long-lived task per server, well inside the
caller's ack window."""

from __future__ import annotations

from collections.abc import Callable

import trio

from .._wire import frames as _frames
from .intake import Key

__all__ = ["AckSender"]


class AckSender:
    """The acks one server owes; `run` sends those that came due."""

    def __init__(
        self,
        host: str,
        instance: str,
        delay: float,
        answer: Callable[[str, _frames.Frame], None],
    ) -> None:
        self._host = host
        self._instance = instance
        self._delay = delay
        self._answer = answer
        self.owed: dict[Key, tuple[str, _frames.Request, str, float]] = {}
        self._recent = False  # a request came in since the sender last looked
        self._wakeup: trio.Event | None = None

    def owe(self, key: Key, reply: str, frame: _frames.Request, queue: str, now: float) -> None:
        """``frame`` (answered on ``reply``) is acked unless it is answered within the delay."""
        self.owed[key] = (reply, frame, queue, now)
        self._recent = True
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def settle(self, key: Key) -> None:
        """The call was answered (or given up): it needs no ack any more."""
        self.owed.pop(key, None)

    async def run(self) -> None:
        """Under load look every ``delay`` (not once per request); park only after a whole
        quiet period, so an idle actor costs nothing."""
        delay, owed = self._delay, self.owed
        while True:
            if not owed and not self._recent:
                self._wakeup = wakeup = trio.Event()
                await wakeup.wait()
            self._recent = False
            await trio.sleep(delay)
            due = trio.current_time() - delay
            for key, (reply, frame, queue, since) in list(owed.items()):
                if since <= due:
                    del owed[key]
                    ack = _frames.Ack(
                        msg_id=frame.msg_id,
                        from_host=self._host,
                        from_instance=self._instance,
                        queue=queue,
                        token=frame.token,
                    )
                    self._answer(reply, ack)
