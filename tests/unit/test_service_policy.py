"""A service the tests need and cannot have fails the run in CI, and only skips elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROBE_TEST = """
def test_needs_kafka(kafka_bootstrap):
    assert kafka_bootstrap
"""


def run_probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE_TEST)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "STRANGLER_REQUIRE_SERVICES")}
    # nothing listens on port 1: the service is unreachable
    clean.update(STRANGLER_KAFKA_BOOTSTRAP="127.0.0.1:1", PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.fixtures",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_probe.py"),
        ],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("switch", [{"CI": "true"}, {"STRANGLER_REQUIRE_SERVICES": "1"}])
def test_missing_service_fails_the_run_in_ci(tmp_path: Path, switch: dict[str, str]) -> None:
    result = run_probe(tmp_path, **switch)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert "required service unavailable: kafka" in result.stdout


def test_missing_service_skips_outside_ci(tmp_path: Path) -> None:
    result = run_probe(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
