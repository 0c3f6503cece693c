"""``deploy/``: the Dockerfile, the compose file and the Kubernetes manifests parse, and every
command they run exists with every option it passes (``actorbus ... --help``, ``nats-server
--help``); the probes, grace periods and the external NATS are wired as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from actorbus._transport.embedded import find_nats_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
#: Options another issue adds; checked once ``--help`` lists them (skipped, saying so, before).
PENDING = {"--http": "the HTTP ingress (issue 23)"}


@cache
def _help(*command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "actorbus", *command, "--help"],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


def check_actorbus(argv: list[str], pending: set[str]) -> dict[str, str]:
    """The command exists, each option is in its --help, each target path is in the repo;
    returns the options' values. Options of `PENDING` missing from --help go to ``pending``."""
    assert argv[0] == "actorbus", argv
    command = argv[1]
    text = _help(command)
    options: dict[str, str] = {}
    for i, arg in enumerate(argv[2:], start=2):
        if arg.startswith("--"):
            if f"{arg} " not in text and f"{arg}\n" not in text:
                assert arg in PENDING, f"{arg} is not an option of actorbus {command}"
                pending.add(arg)
            nxt = argv[i + 1] if i + 1 < len(argv) else ""
            options[arg] = "" if nxt.startswith("--") else nxt
        elif not argv[i - 1].startswith("--") and "/" in arg:
            assert (ROOT / arg).exists(), f"target {arg} is not in the repository"
    return options


def _skip_if_pending(pending: set[str]) -> None:
    if pending:
        pytest.skip("checked all but " + ", ".join(f"{o} ({PENDING[o]})" for o in sorted(pending)))


def test_dockerfile_installs_a_wheel_and_runs_as_non_root() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2, "a build stage and a runtime stage"
    final = lines[stages[1] :]
    assert any("pip install" in line and ".whl" in line for line in final)
    assert any("python -m build --wheel" in line for line in lines[: stages[1]])
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    (cmd,) = [line for line in final if line.startswith("CMD ")]
    assert final.index(cmd) > final.index(f"USER {users[-1]}")
    pending: set[str] = set()
    options = check_actorbus(json.loads(cmd[4:]), pending)
    assert options["--health"].endswith(":8080")
    _skip_if_pending(pending)


def _seconds(text: str) -> float:
    return float(str(text).removesuffix("s"))


def test_compose_runs_a_jetstream_cluster_and_the_actors() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    nats_help = subprocess.run(
        [find_nats_server(), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    nats_text = nats_help.stdout + nats_help.stderr
    nodes = [
        name for name, svc in services.items() if str(svc.get("image", "")).startswith("nats:")
    ]
    assert len(nodes) == 3
    for name in nodes:
        command = services[name]["command"]
        assert "--jetstream" in command and "--routes" in command
        for flag in (arg for arg in command if arg.startswith("--")):
            assert f"{flag} " in nats_text or f"{flag}\n" in nats_text, f"nats-server has no {flag}"
        routes = command[command.index("--routes") + 1].split(",")
        assert sorted(r.split("//")[1].split(":")[0] for r in routes) == sorted(
            n for n in nodes if n != name
        )
    actors = services["actors"]
    assert set(actors["depends_on"]) == set(nodes)
    assert sorted(
        u.split("//")[1].split(":")[0] for u in actors["environment"]["NATS_URL"].split(",")
    ) == sorted(nodes)
    pending: set[str] = set()
    options = check_actorbus(actors["command"], pending)
    assert "--http" in options and "--health" in options
    assert _seconds(actors["stop_grace_period"]) > float(options["--grace"])
    _skip_if_pending(pending)


def test_kubernetes_probes_grace_and_external_nats() -> None:
    docs = [
        doc
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    kinds = {doc["kind"] for doc in docs}
    assert "Deployment" in kinds and "StatefulSet" not in kinds  # NATS is not run here
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert "nats" not in container["image"]
    pending: set[str] = set()
    options = check_actorbus(container["command"], pending)
    assert pod["terminationGracePeriodSeconds"] > float(options["--grace"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    health_port = int(options["--health"].rpartition(":")[2])
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert ports[get["port"]] == health_port
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    (source,) = container["envFrom"]
    nats_url = configmaps[source["configMapRef"]["name"]]["data"]["NATS_URL"]
    assert nats_url.startswith("nats://")
    _skip_if_pending(pending)
