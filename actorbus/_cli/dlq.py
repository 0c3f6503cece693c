"""``actorbus dlq [HOST]``: the dead letters of durable sinks; ``--replay`` sends them back.

Dead letters live in the plane's dead-letter stream (`_wire/jetstream.py`), one message each:
the event as it was fired, and headers saying which sink gave up on it, after how many
deliveries, and its last error. A replay puts the event on its sink's own replay subject (only
that sink's consumer reads it), checks that the source's stream stored it, then deletes the
letter: a letter is never deleted before its event is back in the stream.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
from collections.abc import Callable
from typing import Any

from .._wire import jetstream as _js
from .._wire import subjects as _subjects
from .common import EXIT_USAGE, CliError

__all__ = ["add_dlq_parser", "cmd_dlq"]

#: Letters read (and replayed) by one command at the most.
MAX_LETTERS = 100_000
#: The sender a replay names (the command line's own hostname, as `run_client` connects).
REPLAYER = "cli.actorbus"


def add_dlq_parser(sub: Any, bus_options: Callable[[argparse.ArgumentParser], None]) -> None:
    dlq = sub.add_parser("dlq", help="list the dead letters of durable sinks, or replay them")
    dlq.add_argument("host", nargs="?", help="a sink's hostname (default: every sink)")
    dlq.add_argument(
        "--replay", action="store_true", help="send HOST's dead letters back to it, then drop them"
    )
    dlq.add_argument("--json", action="store_true", help="one JSON object a letter")
    bus_options(dlq)


def cmd_dlq(args: argparse.Namespace) -> int:
    from .client import run_client

    if args.host is not None:
        try:
            _subjects.validate_hostname(args.host)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    elif args.replay:
        raise CliError("--replay needs the HOST whose dead letters to send back", EXIT_USAGE)
    return run_client(_dlq, args)


async def _dlq(app: Any, args: argparse.Namespace) -> int:
    from .._transport.jetstream import JetStream, JetStreamError

    plane = app.plane
    js = JetStream(app.transport, _js.inbox_prefix(plane, "cli.actorbus", _token()))
    await js.start()
    stream = _js.dlq_stream(plane)
    try:
        letters = await _read(js, stream, _js.dlq_subjects(plane, args.host))
    except JetStreamError as exc:
        if exc.err_code != 10059:  # no dead-letter stream: no durable sink ever failed
            raise
        letters = []
    if args.replay:
        replayed = [await _replay(js, plane, stream, letter) for letter in letters]
        print(f"replayed {len(replayed)} dead letters of {args.host}", file=sys.stderr)
        return 0
    for letter in letters:
        if args.json:
            print(json.dumps(letter, sort_keys=True))
        else:
            print(
                f"{letter['seq']:>6}  {letter['sink']}  {letter['route']} from {letter['source']}"
                f"  event {letter['event_id']}  after {letter['deliveries']} deliveries:"
                f"  {letter['error']}"
            )
    if not letters and not args.json:
        print(f"no dead letters{' of ' + args.host if args.host else ''}", file=sys.stderr)
    return 0


def _token() -> str:
    return secrets.token_hex(5)


async def _read(js: Any, stream: str, subject: str) -> list[dict[str, Any]]:
    """Every letter on ``subject``, oldest first (one `STREAM.MSG.GET` each)."""
    from .._transport.jetstream import JetStreamError

    letters: list[dict[str, Any]] = []
    seq = 1
    while len(letters) < MAX_LETTERS:
        try:
            doc = await js.api(f"STREAM.MSG.GET.{stream}", {"seq": seq, "next_by_subj": subject})
        except JetStreamError as exc:
            if exc.err_code == 10037:  # no message found: the end
                break
            raise
        letter = _letter(doc.get("message") or {})
        if letter is None:
            break
        letters.append(letter)
        seq = letter["seq"] + 1
    return letters


def _letter(message: dict[str, Any]) -> dict[str, Any] | None:
    from .._transport.natsproto import parse_headers

    seq = message.get("seq")
    if not isinstance(seq, int):
        return None
    try:
        block = base64.b64decode(message.get("hdrs") or "")
        data = base64.b64decode(message.get("data") or "")
    except ValueError:
        block, data = b"", b""
    h = parse_headers(block)
    return {
        "seq": seq,
        "sink": h.get("Actorbus-Sink", "?"),
        "queue": h.get("Actorbus-Queue", ""),
        "source": h.get("Actorbus-Source", "?"),
        "route": h.get("Actorbus-Route", "?"),
        "consumer": h.get("Actorbus-Consumer", ""),
        "event_id": h.get(_js.EVENT_ID_HEADER, ""),
        "deliveries": h.get("Actorbus-Deliveries", "?"),
        "error": h.get(_js.ERROR_HEADER, ""),
        "time": message.get("time", ""),
        "data": base64.b64encode(data).decode(),
    }


async def _replay(js: Any, plane: str, stream: str, letter: dict[str, Any]) -> int:
    """Put one letter's event back for its sink; delete the letter once the source's stream
    holds it again."""
    method, _, rest = str(letter["route"]).partition(" ")
    port_text, _, path = rest.partition(" ")
    if not port_text.isdigit() or not letter["consumer"] or letter["source"] == "?":
        raise CliError(f"dead letter {letter['seq']} does not say where it came from")
    source, port = letter["source"], int(port_text)
    subject = _js.replay_subject(
        plane, source, port, method, path, letter["consumer"], sender=REPLAYER
    )
    msg_id = f"replay.{letter['seq']}.{_token()}"
    js.transport.publish(
        subject, base64.b64decode(letter["data"]), headers={_js.MSG_ID_HEADER: msg_id}
    )
    await js.transport.flush()
    back = await js.api(
        f"STREAM.MSG.GET.{_js.stream_name(plane, source)}", {"last_by_subj": subject}
    )
    block = base64.b64decode((back.get("message") or {}).get("hdrs") or "")
    from .._transport.natsproto import parse_headers

    if parse_headers(block).get(_js.MSG_ID_HEADER) != msg_id:
        raise CliError(f"dead letter {letter['seq']}: the source's stream did not store it")
    await js.api(f"STREAM.MSG.DELETE.{stream}", {"seq": letter["seq"]})
    return int(letter["seq"])
