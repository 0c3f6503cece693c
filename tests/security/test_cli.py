"""``actorbus acl`` and ``--credentials`` through real subprocesses: files private, config
accepted by nats-server, and no secret in any output or on any command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import trio

from actorbus._transport.credentials import load_credentials
from actorbus._transport.embedded import EmbeddedServer, find_nats_server

from ..cli.helpers import actorbus, actorbus_env, running

pytestmark = [pytest.mark.nats, pytest.mark.slow]

ACTORS = str(Path(__file__).with_name("actors.py"))


def _secrets(creds_path: Path) -> list[str]:
    creds = load_credentials(creds_path)
    return [s for ident in [creds.edge, *creds.hosts.values()] if ident for s in ident.secrets]


@pytest.mark.parametrize("nkeys", [False, True])
async def test_acl_writes_private_files_that_nats_server_accepts(
    tmp_path: Path, nkeys: bool
) -> None:
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    args = [ACTORS, "--conf", str(conf), "--credentials", str(creds), "--plane", "prod"]
    done = await actorbus("acl", *args, *(["--nkeys"] if nkeys else []))
    assert done.returncode == 0, done.stderr
    assert conf.stat().st_mode & 0o777 == 0o600
    assert creds.stat().st_mode & 0o777 == 0o600
    output = done.stdout.decode() + done.stderr.decode()
    secrets = _secrets(creds)
    assert len(secrets) == 4  # the edge and three actors
    assert not [s for s in secrets if s in output]
    users = set(load_credentials(creds).hosts)
    assert users == {"source.sec", "sink.sec", "other.sec"}
    with trio.fail_after(30):
        check = await trio.run_process(
            [find_nats_server(), "-c", str(conf), "-t"], capture_stdout=True,
            capture_stderr=True, check=False,
        )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert b"valid" in check.stdout + check.stderr


async def test_acl_refuses_bad_targets_in_one_line(tmp_path: Path) -> None:
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    done = await actorbus("acl", "no_such_module", "--conf", str(conf), "--credentials", str(creds))
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1 and "no_such_module" in done.stderr.decode()
    assert not conf.exists() and not creds.exists()


async def test_run_with_credentials_leaks_no_secret(tmp_path: Path) -> None:
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    done = await actorbus("acl", ACTORS, "--conf", str(conf), "--credentials", str(creds))
    assert done.returncode == 0, done.stderr
    secrets = _secrets(creds)
    edge = load_credentials(creds).edge
    assert edge is not None and edge.password
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server:
        # the bus URL itself carries a password: it must not reach output or argv either
        url = server.url.replace("nats://", f"nats://{edge.user}:{edge.password}@")
        env = actorbus_env(NATS_URL=url, ACTORBUS_PLANE="secp")
        args = [ACTORS, "--workers", "1", "--grace", "2", "--credentials", str(creds)]
        async with running(*args, env=env) as run:
            ready = await run.wait_stdout("actorbus ready")
            pids = [int(p) for p in re.findall(r"\d+", ready.split("pids", 1)[1].split(")")[0])]
            assert pids
            for pid in pids:
                cmdline = (await trio.Path(f"/proc/{pid}/cmdline").read_bytes()).decode()
                assert "--worker" in cmdline
                assert not [s for s in secrets if s in cmdline], "a secret is on a command line"
            call = await actorbus(
                "call", "source.sec/fire", "n=5", "--credentials", str(creds), env=env
            )
            assert call.returncode == 0, call.stderr
            assert json.loads(call.stdout) == [10]
            ping = await actorbus("ping", "--json", "--credentials", str(creds), env=env)
            assert ping.returncode == 0, ping.stderr
            assert {i["host"] for i in json.loads(ping.stdout)} == {
                "source.sec", "sink.sec", "other.sec",
            }  # fmt: skip
            # without credentials, a wrong password: one redacted line, exit 5
            bad = url.replace(edge.password, "not-the-password")
            denied = await actorbus("ping", env=actorbus_env(NATS_URL=bad, ACTORBUS_PLANE="x"))
            assert denied.returncode == 5
            assert denied.stderr.decode().count("\n") == 1
            assert "not-the-password" not in denied.stderr.decode()
            outputs = [call, ping, denied]
        assert await run.wait() == 0
        text = "\n".join(run.stdout) + run.stderr
        text += "".join(o.stdout.decode() + o.stderr.decode() for o in outputs)
        assert not [s for s in secrets if s in text], "a secret was printed"


async def test_run_with_a_wrong_password_is_one_redacted_line(tmp_path: Path) -> None:
    conf, creds = tmp_path / "auth.conf", tmp_path / "creds.json"
    done = await actorbus("acl", ACTORS, "--conf", str(conf), "--credentials", str(creds))
    assert done.returncode == 0, done.stderr
    data = json.loads(creds.read_text())
    data["edge"]["password"] = "Wrong-Password-42"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with EmbeddedServer(extra_args=["-c", str(conf)]) as server:
        env = actorbus_env(NATS_URL=server.url)
        failed = await actorbus("run", ACTORS, "--credentials", str(bad), env=env)
    err = failed.stderr.decode()
    assert failed.returncode == 5, err
    assert err.count("\n") == 1 and "authorization" in err.lower()
    assert "Wrong-Password-42" not in err + failed.stdout.decode()
