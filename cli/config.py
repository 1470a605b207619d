"""The pipeline file: one YAML document for sources, Kafka, the registry and views.

Each part owns the model of its own section (``kafka`` in core, ``sources`` in connectors,
``views`` in materializers); this module composes them and checks what spans sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.postgres.config import PostgresSource
from strangler.core.config import StrictModel, load_config
from strangler.core.kafka import KafkaSettings
from strangler.materializers.config import MaterializeConfig, ViewConfig


def _source_type(value: Any) -> str:
    """The `type:` of a source entry; postgres when it is left out."""
    if isinstance(value, dict):
        return str(value.get("type", "postgres"))
    return str(getattr(value, "type", "postgres"))


Source = Annotated[
    Annotated[PostgresSource, Tag("postgres")] | Annotated[MysqlSource, Tag("mysql")],
    Discriminator(_source_type),
]


class RegistrySection(StrictModel):
    """The `registry:` section: where schemas are registered and looked up."""

    url: str = Field(min_length=1, pattern=r"^https?://")
    """Base URL of a Confluent-compatible registry (strangler's own, or any other)."""


class PipelineConfig(StrictModel):
    """A whole pipeline file."""

    version: Literal[1] = 1
    """Format version of this file."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Name of the pipeline; used in consumer-group ids, slot and offset names."""
    kafka: KafkaSettings
    """Where the topics live."""
    registry: RegistrySection | None = None
    """The schema registry (required once there are sources or views)."""
    sources: list[Source] = Field(default_factory=list)
    """Legacy databases whose tables are published as topics."""
    views: list[ViewConfig] = Field(default_factory=list)
    """Local copies of topics for services (SQLite files or PostgreSQL schemas)."""

    @model_validator(mode="after")
    def _registry_when_needed(self) -> PipelineConfig:
        if (self.sources or self.views) and self.registry is None:
            raise ValueError("sources and views need a `registry:` section with its url")
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError(f"source names must be unique, got {names}")
        return self

    def materialize_config(self) -> MaterializeConfig:
        """The settings the materializers run with."""
        assert self.registry is not None  # checked by the validator when there are views
        return MaterializeConfig(kafka=self.kafka, registry_url=self.registry.url, views=self.views)


def load_pipeline(path: Path) -> PipelineConfig:
    """Read and validate a pipeline file; raises ConfigError with file:line for each problem."""
    return load_config(path, PipelineConfig)
