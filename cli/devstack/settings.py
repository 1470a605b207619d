"""Where the local stack lives and which loopback ports it uses.

Defaults stay clear of the system's own services (5432, 3306, 9092) and below Linux's ephemeral
port range (32768-60999): a port in that range can be taken at any moment by the local end of
some client connection, and the server then fails to bind. Options beat environment
variables, which beat the settings saved by the last ``up`` in the same data directory, which
beat the defaults, so ``status`` and ``down`` find a stack started with other ports.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DEFAULT_KAFKA_VERSION = "4.1.1"


def default_base_dir() -> Path:
    """A per-user directory under the system temp dir (reachable by the postgres and mysql
    accounts when we are root, unlike root's home)."""
    return Path(tempfile.gettempdir()) / f"strangler-dev-{os.geteuid()}"


@dataclass(frozen=True)
class StackSettings:
    """Data directory, ports and versions of one local stack."""

    base_dir: Path
    pg_port: int = 25432
    mysql_port: int = 23306
    kafka_port: int = 29092
    kafka_controller_port: int = 29093
    registry_port: int = 28081
    kafka_version: str = DEFAULT_KAFKA_VERSION

    @property
    def settings_file(self) -> Path:
        return self.base_dir / "settings.json"

    def save(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        data = {k: v for k, v in asdict(self).items() if k != "base_dir"}
        self.settings_file.write_text(json.dumps(data, indent=2) + "\n")

    def with_saved(self) -> StackSettings:
        """These settings overlaid on what the last ``up`` saved (saved values fill defaults)."""
        if not self.settings_file.exists():
            return self
        saved = json.loads(self.settings_file.read_text())
        known = {f.name for f in fields(self)} - {"base_dir"}
        return replace(self, **{k: v for k, v in saved.items() if k in known})


ENV_NAMES = {
    "base_dir": "STRANGLER_DEV_DIR",
    "pg_port": "STRANGLER_DEV_PG_PORT",
    "mysql_port": "STRANGLER_DEV_MYSQL_PORT",
    "kafka_port": "STRANGLER_DEV_KAFKA_PORT",
    "kafka_controller_port": "STRANGLER_DEV_KAFKA_CONTROLLER_PORT",
    "registry_port": "STRANGLER_DEV_REGISTRY_PORT",
    "kafka_version": "STRANGLER_KAFKA_VERSION",
}


def resolve(**options: Any) -> StackSettings:
    """Settings from options (None = not given), then environment, then saved, then defaults."""
    base = options.get("base_dir") or os.environ.get(ENV_NAMES["base_dir"]) or default_base_dir()
    settings = StackSettings(base_dir=Path(base)).with_saved()
    overrides: dict[str, Any] = {}
    for f in fields(StackSettings):
        if f.name == "base_dir":
            continue
        value = options.get(f.name)
        if value is None:
            value = os.environ.get(ENV_NAMES[f.name])
        if value is not None:
            overrides[f.name] = int(value) if f.name.endswith("port") else str(value)
    return replace(settings, **overrides)
