"""A non-editable install puts everything under strangler.* and gives a working `strangler`."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_wheel_installs_under_one_namespace(tmp_path: Path) -> None:
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ".")
    wheel = next((tmp_path / "dist").glob("strangler-*.whl"))
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    name, version = wheel.name.split("-")[:2]  # a platform wheel: it carries the C extensions
    assert tops == {"strangler", f"{name}-{version}.dist-info"}

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    # dependencies come from the test venv; strangler itself only from the wheel
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", wheel)
    where = run(
        venv / "bin" / "python",
        "-c",
        "import strangler.connectors, strangler.cli.main as m; print(m.__file__)\n"
        "import strangler.connectors.postgres._speedups, strangler.connectors.mysql._speedups\n"
        "import strangler.materializers._speedups",
        cwd=tmp_path,
    )
    assert where.startswith(str(site)), where
    assert "dev" in run(venv / "bin" / "strangler", "--help", cwd=tmp_path)
