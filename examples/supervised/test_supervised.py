"""Drive ``actorbus run examples/supervised`` in a subprocess: orders in flight survive SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import trio

from actorbus import App, RemoteError
from actorbus._wire.frames import encode_body

pytestmark = [pytest.mark.nats, pytest.mark.slow]
HERE = Path(__file__).parent


async def test_sigterm_while_cooking_answers_every_order(nats_url: str, plane: str) -> None:
    cmd = [sys.executable, "-m", "actorbus", "run", str(HERE), "--replicas", "2"]
    cmd += ["--nats", nats_url, "--plane", plane]
    proc = await trio.lowlevel.open_process(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    try:
        with trio.fail_after(30):
            out = b""
            while b"actorbus ready" not in out:
                out += await stdout.receive_some()
            assert b"kitchen.example x2" in out

            async def cook(dish: str) -> str:
                body = encode_body({"dish": dish})
                return str(
                    await app.caller.call(
                        "kitchen.example", 443, "POST", "/cook", body, msgspec.msgpack.decode
                    )
                )

            answers: list[str] = []
            async with App(bus=nats_url, plane=plane) as app:
                with pytest.raises(RemoteError) as info:
                    await cook("pizza")
                assert info.value.status == 404

                async def order(dish: str) -> None:
                    answers.append(await cook(dish))

                async with trio.open_nursery() as nursery:
                    for dish in ["soup", "salad", "stew", "soup"]:
                        nursery.start_soon(order, dish)
                    err = b""
                    while err.count(b"cooking ") < 4:  # all four orders are on the stove
                        err += await stderr.receive_some()
                    proc.send_signal(signal.SIGTERM)
            assert sorted(answers) == [
                "salad is ready",
                "soup is ready",
                "soup is ready",
                "stew is ready",
            ]
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
