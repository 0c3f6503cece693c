"""What a newcomer tripped on (issue 25): each a one-line answer instead of a crash or silence."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorbus._cli.main import main
from actorbus._version import install_hint
from tests.cli.helpers import ACTORS


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`main` sets these for its worker processes, and sets up logging on this test's captured
    stderr: make sure each test's are undone."""
    for name in ("ACTORBUS_OTEL", "ACTORBUS_CONFIG", "NATS_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_otel_without_the_sdk_is_one_line_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "opentelemetry"] + ["opentelemetry"]:
        monkeypatch.setitem(sys.modules, name, None)  # the parent package is missing
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


def test_a_hostname_typo_in_the_config_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "shop.toml"
    conf.write_text('["slow.cli.tset"]\ngreeting = "hi"\n')
    argv = ["run", ACTORS + ":Slow", "--config", str(conf), "--nats", "nats://127.0.0.1:1"]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "table [slow.cli.tset] names no actor here; did you mean [slow.cli.test]?" in line


def test_a_table_for_an_actor_run_elsewhere_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from actorbus._runtime.config import CONFIG_FILE_ENV, check_hosts

    conf = tmp_path / "shop.toml"
    conf.write_text('["billing.shop"]\nretries = 2\n')
    check_hosts(["slow.cli.test"], {CONFIG_FILE_ENV: str(conf)})
    assert [r.getMessage() for r in caplog.records] == [
        f"config file {conf}: table [billing.shop] names no actor of this run (ignored)"
    ]


def test_refusals_are_held_back_then_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    from actorbus._cli.common import CliError
    from actorbus._cli.refusals import watch_refusals

    log = logging.getLogger("actorbus.nats")
    with watch_refusals() as refusals:
        for _ in range(7):
            log.error("NATS refused connection 'x': Permissions Violation for Publish to \"a.b\"")
        other = logging.LogRecord("actorbus.nats", logging.ERROR, "", 0, "lost", None, None)
        assert refusals.filter(other)  # not a refusal: passes through
        refusals.mention()
        with pytest.raises(CliError, match=r"refused this command: Permissions Violation"):
            refusals.explain(RuntimeError("AckTimeout"), "prod")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "actorbus: warning: the NATS server refused part of this command: Permissions Violation"
        ' for Publish to "a.b" (and 6 more)'
    ]
