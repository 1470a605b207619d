"""The ``sources:`` entry of a MySQL/MariaDB source in a pipeline file.

```yaml
sources:
  - type: mysql
    name: legacy
    url: mysql://replicator:${MYSQL_PASSWORD}@db:3306/
    server_id: 184054
    topic_prefix: legacy
    tables:
      include: [shop.*]
      exclude: [shop.audit_*]
    overrides:
      shop.order_lines: {key: [order_id, line_no], exclude_columns: [internal_note]}
    snapshot: {mode: initial, chunk_rows: 20000}
    offsets: {store: kafka, topic: strangler.offsets}
```

Table patterns are ``database.table``: a MySQL database plays the part of a schema.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from strangler.connectors.config import CaptureSettings
from strangler.core.config import Secret, StrictModel


class PositionMode(StrEnum):
    """How the stored stream position names a point of the binlog."""

    GTID = "gtid"
    """By GTID (MariaDB GTID position, MySQL GTID set): survives a failover to a replica."""
    FILE = "file"
    """By binlog file and offset: only valid on the server that wrote the file."""


class OffsetStoreKind(StrEnum):
    """Where the connector keeps its position and snapshot progress."""

    FILE = "file"
    """A JSON file ``<state_dir>/<name>.offsets.json`` (one machine)."""
    KAFKA = "kafka"
    """A compacted Kafka topic, keyed by the source's name (any machine can resume)."""


class OffsetSettings(StrictModel):
    """Where the stream position and snapshot progress are stored."""

    store: OffsetStoreKind = OffsetStoreKind.FILE
    """file or kafka."""
    topic: str = Field(default="strangler.offsets", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    """The compacted topic of the kafka store (created with one partition if missing)."""


class MysqlSource(CaptureSettings):
    """One MySQL or MariaDB server captured through its row-based binlog."""

    type: Literal["mysql"] = "mysql"
    """The source kind."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Name of this source in the pipeline (keys its stored position, names its log lines)."""
    url: Secret
    """mysql://user:password@host:port/ of the server; the user needs SELECT, RELOAD,
    REPLICATION SLAVE and REPLICATION CLIENT (MariaDB: BINLOG MONITOR)."""
    server_id: int = Field(ge=1, lt=2**32)
    """Replica server id of the binlog reader: unique among the server and its replicas."""
    position_mode: PositionMode = PositionMode.GTID
    """gtid (default) or file: how the stored position names a point of the binlog."""
    offsets: OffsetSettings = Field(default_factory=OffsetSettings)
    """Where the position and snapshot progress are kept."""
    store_interval_s: float = Field(default=1.0, gt=0)
    """How often the acknowledged position is stored (and always on a graceful stop)."""
    state_dir: Path = Path(".strangler/state")
    """Directory of the file offset store's ``<name>.offsets.json``."""

    @field_validator("url")
    @classmethod
    def _mysql_url(cls, url: Secret) -> Secret:
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
            raise ValueError("expected mysql://user:password@host:port/")
        return url

    def connection_settings(self) -> dict[str, Any]:
        """pymysql connection settings (host, port, user, password) from ``url``."""
        parts = urlsplit(self.url.get_secret_value())
        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
        }
