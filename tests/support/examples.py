"""Running a playbook of examples/ as a user does: its driver script as a subprocess, with the
test's own endpoints in the dev stack's variables and names of its own in the example's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(
    script: str, *args: str, endpoints: dict[str, str], names: dict[str, str], work: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/SCRIPT ARGS`` in ``work`` with ``STRANGLER_<ENDPOINT>`` and the example's
    own variables set; its output is captured, and ``work``'s logs are appended to stderr when
    it fails so the assertion shows why."""
    env = {**os.environ, **{f"STRANGLER_{k.upper()}": v for k, v in endpoints.items()}, **names}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env, cwd=work, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        logs = "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in work.glob("*.log"))
        result.stderr += logs
    return result
