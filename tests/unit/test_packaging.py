"""Every package folder of the parts is installed under strangler.*, and nothing generic is."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["core", "connectors", "schema_registry", "materializers", "cli"]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    assert {f"strangler.{p}": p for p in PARTS}.items() <= setuptools["package-dir"].items()
    on_disk = {
        "strangler." + ".".join(init.parent.relative_to(ROOT).parts)
        for part in PARTS
        for init in (ROOT / part).rglob("__init__.py")
    }
    assert on_disk == listed, f"add to pyproject's packages: {sorted(on_disk - listed)}"
    assert all(name.startswith("strangler.") for name in listed)
