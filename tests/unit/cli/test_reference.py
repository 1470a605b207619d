"""The committed pipeline reference is what the config models say today."""

from __future__ import annotations

from pathlib import Path

import pytest

from strangler.cli.config import PipelineConfig
from strangler.cli.reference import reference

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "pipeline-reference.md"


def test_reference_lists_every_key_with_type_default_and_doc() -> None:
    text = reference(PipelineConfig)
    assert "| `bootstrap_servers` | string | required | Comma-separated" in text
    assert "| `partitions` | integer | `1` | Partitions of each table topic" in text
    assert "## `kafka`" in text


def test_committed_reference_is_current() -> None:
    assert DOC.read_text() == reference(PipelineConfig), (
        "stale docs/pipeline-reference.md: run `strangler reference > docs/pipeline-reference.md`"
    )
