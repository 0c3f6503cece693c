"""What a newcomer tripped on (issue 25): each a one-line answer instead of a crash or silence."""

from __future__ import annotations

import sys

import pytest

from actorbus._cli.main import main
from actorbus._version import install_hint
from tests.cli.helpers import ACTORS


def test_otel_without_the_sdk_is_one_line_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # the parent package is missing
    monkeypatch.delenv("ACTORBUS_OTEL", raising=False)
    assert main(["run", ACTORS, "--otel", "--nats", "nats://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"actorbus: --otel needs the OpenTelemetry SDK: {install_hint('otel')}"]


def test_install_hints_name_ways_that_work() -> None:
    hint = install_hint("testing")
    assert "pip install -e '.[testing]'" in hint and ".whl[testing]'" in hint


def test_ctrl_c_on_a_command_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_main = sys.modules["actorbus._cli.main"]

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "cmd_call", interrupted)
    assert main(["call", "a.example/x"]) == 130
    assert capsys.readouterr().err.strip() == "actorbus: interrupted"


def test_a_websocket_url_hint_names_the_setting_a_user_has() -> None:
    from actorbus._transport.natsconn import parse_url

    with pytest.raises(ValueError, match="ACTORBUS_NATS_CLIENT=nats-py"):
        parse_url("ws://127.0.0.1:8080")
