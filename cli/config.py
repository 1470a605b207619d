"""The pipeline file: one YAML document for sources, Kafka, the registry and views.

Each part owns the model of its own section; this module composes them. Sections arrive as the
parts do: today ``kafka``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from strangler.core.config import StrictModel, load_config
from strangler.core.kafka import KafkaSettings


class PipelineConfig(StrictModel):
    """A whole pipeline file."""

    version: Literal[1] = 1
    """Format version of this file."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Name of the pipeline; used in consumer-group ids, slot and offset names."""
    kafka: KafkaSettings
    """Where the topics live."""


def load_pipeline(path: Path) -> PipelineConfig:
    """Read and validate a pipeline file; raises ConfigError with file:line for each problem."""
    return load_config(path, PipelineConfig)
