"""``strangler dev`` as a user runs it: cold up, idempotent up, status, env, down, and the
message for a missing prerequisite. Uses a stack of its own (own directory and ports)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from strangler.cli.devstack.process import port_open

pytestmark = pytest.mark.e2e

PORTS = {
    "STRANGLER_DEV_PG_PORT": "25632",
    "STRANGLER_DEV_MYSQL_PORT": "23506",
    "STRANGLER_DEV_KAFKA_PORT": "29292",
    "STRANGLER_DEV_KAFKA_CONTROLLER_PORT": "29293",
    "STRANGLER_DEV_REGISTRY_PORT": "28281",
}


def strangler(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("strangler")
    result = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"strangler {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


@pytest.fixture
def dev_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    base = Path("/tmp") / f"strangler-e2e-{os.getpid()}"  # reachable by postgres/mysql accounts
    env = {**os.environ, **PORTS, "STRANGLER_DEV_DIR": str(base)}
    yield env
    strangler(env, "dev", "down", check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_up_status_env_down(dev_env: dict[str, str]) -> None:
    began = time.monotonic()
    strangler(dev_env, "dev", "up")
    cold = time.monotonic() - began
    assert cold < 120, f"cold start took {cold:.0f} s"

    began = time.monotonic()
    second = strangler(dev_env, "dev", "up")
    assert second.stdout.count("already running") == 4
    assert time.monotonic() - began < 10

    rows = json.loads(strangler(dev_env, "dev", "status", "--json").stdout)
    assert {r["name"]: r["state"] for r in rows} == dict.fromkeys(
        ["postgres", "mariadb", "kafka", "registry"], "running"
    )
    pids = [r["pid"] for r in rows]

    exports = strangler(dev_env, "dev", "env").stdout
    assert "export STRANGLER_PG_DSN=postgresql://postgres@127.0.0.1:25632/postgres" in exports
    assert "export STRANGLER_KAFKA_BOOTSTRAP=127.0.0.1:29292" in exports
    assert "export STRANGLER_REGISTRY_URL=http://127.0.0.1:28281" in exports

    smoke = json.loads(strangler(dev_env, "dev", "smoke", "--json").stdout)
    assert all(check["ok"] for check in smoke), smoke

    strangler(dev_env, "dev", "down")
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
        ), f"process {pid} still running after down"
    for port in PORTS.values():
        assert not port_open(int(port))
    assert "nothing was running" in strangler(dev_env, "dev", "down").stdout


def test_missing_prerequisite_is_one_clear_message(dev_env: dict[str, str]) -> None:
    env = {**dev_env, "PATH": str(Path(sys.executable).parent)}  # no java, no mvn
    result = strangler(env, "dev", "up", "kafka", check=False)
    assert result.returncode == 4
    assert "java (a JRE 17+ for Kafka) was not found" in result.stderr
    assert "apt-get install openjdk-17-jre-headless" in result.stderr
    assert "Traceback" not in result.stderr
