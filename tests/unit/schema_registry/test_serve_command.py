"""``strangler registry serve`` as a process: it listens, answers, keeps its SQLite file."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from strangler.cli.registry import registry

pytestmark = pytest.mark.unit

RUN = "from strangler.cli.registry import registry; registry()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(port: int, db: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-c",
        RUN,
        "serve",
        "--port",
        str(port),
        "--sqlite-path",
        str(db),
        "--no-access-log",
    ]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


def test_serve_and_restart_keep_registrations(tmp_path: Path) -> None:
    port, db = free_port(), tmp_path / "r.db"
    url = f"http://127.0.0.1:{port}"
    for expected_versions in ([1], [1]):
        process = serve(port, db)
        try:
            wait_healthy(url)
            body = {"schema": '"string"'}
            answer = httpx.post(
                f"{url}/subjects/s/versions",
                json=body,
                headers={"Content-Type": "application/json"},
            )
            assert answer.json() == {"id": 1}
            assert httpx.get(f"{url}/subjects/s/versions").json() == expected_versions
        finally:
            process.terminate()
            process.wait(10)


def test_tls_options_go_together(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    result = CliRunner().invoke(registry, ["serve", "--tls-cert", str(cert)])
    assert result.exit_code != 0 and "--tls-cert and --tls-key go together" in result.output


def test_bad_user_option() -> None:
    result = CliRunner().invoke(registry, ["serve", "--user", "nopassword"])
    assert result.exit_code != 0 and "name:password" in result.output
