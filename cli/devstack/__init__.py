"""The local stack of real services on loopback: PostgreSQL, MariaDB, Kafka (no Docker)."""
