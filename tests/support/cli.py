"""Running the ``strangler`` console script of this venv as a user would, output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

STRANGLER = str(Path(sys.executable).with_name("strangler"))


def strangler(*args: str, timeout: float = 120, **popen: Any) -> subprocess.CompletedProcess[str]:
    """``strangler ARGS`` to its end, stdout and stderr as text; the exit code is the caller's
    to check. ``popen`` passes through (cwd, env, stdin)."""
    return subprocess.run(
        [STRANGLER, *args], capture_output=True, text=True, timeout=timeout, check=False, **popen
    )
