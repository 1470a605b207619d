"""The ``sources:`` entry of a PostgreSQL source in a pipeline file.

```yaml
sources:
  - type: postgres
    name: legacy
    dsn: postgresql://replicator:${PGPASSWORD}@db:5432/shop
    slot: strangler_legacy
    publication: strangler_legacy
    topic_prefix: legacy
    tables:
      include: [public.*]
      exclude: [public.audit_*]
    overrides:
      public.order_lines: {key: [order_id, line_no], exclude_columns: [internal_note]}
    snapshot: {mode: initial, chunk_rows: 20000}
    snapshot_workers: 2
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from strangler.connectors.config import CaptureSettings
from strangler.core.config import Secret, StrictModel
from strangler.core.kafka import KafkaSettings


class PostgresSource(CaptureSettings):
    """One PostgreSQL database captured through logical replication (pgoutput)."""

    type: Literal["postgres"] = "postgres"
    """The source kind."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Name of this source in the pipeline (names its state file and its log lines)."""
    dsn: Secret
    """libpq connection string or URL; the role needs REPLICATION (or superuser)."""
    slot: str = Field(pattern=r"^[a-z0-9_]{1,63}$")
    """Replication slot to create or reuse (a-z, 0-9, _)."""
    publication: str = Field(min_length=1, max_length=63)
    """Publication to create or reuse; captured tables are added to it."""
    create_publication: bool = True
    """Create the publication, and add captured tables to it, when they are missing."""
    replica_identity_full: bool = False
    """Set REPLICA IDENTITY FULL on captured tables whose values may be TOASTed, so an UPDATE
    that leaves a large value unchanged still carries it (otherwise such an update stops the
    connector rather than publish a row without it). Needs ownership of the tables."""
    exactly_once: bool = False
    """Commit events and the stream position in one Kafka transaction, so a restart produces no
    duplicate of a streamed change (consumers read with isolation.level=read_committed)."""
    offsets_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$")
    """Compacted topic of the committed positions (exactly_once); default
    ``<topic_prefix>._strangler_offsets``."""
    status_interval_s: float = Field(default=1.0, gt=0)
    """How often the acknowledged position is confirmed to the slot."""
    heartbeat_interval_s: float = Field(default=10.0, ge=0)
    """Seconds between heartbeats that let the slot advance past WAL of uncaptured tables when
    the captured ones are idle (0 turns the heartbeat off)."""
    snapshot_workers: int = Field(default=1, ge=1, le=16)
    """Tables the snapshot reads at the same time, each on a connection of its own inside the
    same snapshot (the slot's, or one exported for them). Helps many-table databases when
    PostgreSQL has cores to spare; each worker is one more connection."""
    max_in_memory: int = Field(default=10_000, ge=1)
    """Changes of one transaction held in memory before the rest spill to a temporary file."""
    state_dir: Path = Path(".strangler/state")
    """Directory of the snapshot progress file ``<name>.snapshot.json``."""


class RegistryEndpoint(StrictModel):
    """Where the schema registry listens."""

    url: str = Field(min_length=1)
    """Base URL of the schema registry, e.g. http://127.0.0.1:8081."""


class ConnectPipeline(StrictModel):
    """The sections of a pipeline file that ``strangler connect`` needs."""

    version: Literal[1] = 1
    """Format version of this file."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Name of the pipeline."""
    kafka: KafkaSettings
    """Where the topics live."""
    registry: RegistryEndpoint
    """Where schemas are registered."""
    sources: list[PostgresSource] = Field(min_length=1)
    """The databases to capture."""
