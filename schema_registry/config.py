"""Settings of a registry server: where it listens, where it stores, who may call it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class StorageKind(StrEnum):
    SQLITE = "sqlite"
    KAFKA = "kafka"


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """Everything ``strangler registry serve`` needs; each field has a safe default."""

    host: str = "127.0.0.1"
    """Address to listen on (loopback unless told otherwise)."""
    port: int = 8081
    """TCP port; 0 picks a free one."""
    storage: StorageKind = StorageKind.SQLITE
    """sqlite: a local file, for one machine. kafka: the shared ``_schemas`` topic."""
    sqlite_path: Path = Path("schemas.db")
    """The SQLite file of the embedded storage."""
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Brokers of the Kafka storage."""
    topic: str = "_schemas"
    """The compacted, single-partition log topic (Confluent's ``kafkastore.topic``)."""
    group_id: str = "strangler-schema-registry"
    """Election group of the instances sharing the topic (not Confluent's, on purpose)."""
    advertised_url: str | None = None
    """URL other instances use to forward writes here; default http(s)://host:port."""
    users: dict[str, str] = field(default_factory=dict)
    """HTTP basic auth users (name → password); empty means no authentication."""
    tls_cert: Path | None = None
    """PEM certificate chain; with ``tls_key`` the server speaks HTTPS."""
    tls_key: Path | None = None
    """PEM private key for ``tls_cert``."""
    incompatible_error_code: int = 409
    """error_code of an incompatible registration: 409 (CP <= 8.1) or 40901 (CP >= 8.2)."""
    access_log: bool = True
    """Write one JSON line per request to the ``strangler.schema_registry.access`` logger."""
    max_schema_chars: int = 1_048_576
    """Larger schemas are refused with 42209."""

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"
