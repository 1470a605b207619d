"""The Docker path (``STRANGLER_TEST_DOCKER=1``): the same services from testcontainers, with
the same server settings as the local stack. Install with ``pip install 'strangler[docker]'``."""

from __future__ import annotations

from typing import Any

PG_COMMAND = "postgres -c wal_level=logical -c max_replication_slots=32 -c max_wal_senders=32"
MARIADB_COMMAND = (
    "--server-id=1 --log-bin=binlog --binlog-format=ROW --binlog-row-image=FULL "
    "--binlog-row-metadata=FULL --gtid-strict-mode=ON --log-slave-updates=ON"
)


def start_container(name: str) -> tuple[str, Any]:
    """Start the container for service ``name``; returns (endpoint, container)."""
    if name == "postgres":
        from testcontainers.postgres import PostgresContainer

        pg = PostgresContainer(
            "postgres:15", username="postgres", password="postgres", dbname="postgres"
        ).with_command(PG_COMMAND)
        pg.start()
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        return f"postgresql://postgres:postgres@{host}:{port}/postgres", pg
    if name == "mariadb":
        from testcontainers.mysql import MySqlContainer

        my = MySqlContainer(
            "mariadb:10.11", username="strangler", password="strangler", root_password="strangler"
        ).with_command(MARIADB_COMMAND)
        my.start()
        host, port = my.get_container_host_ip(), my.get_exposed_port(3306)
        return f"mysql://root:strangler@{host}:{port}/", my
    from testcontainers.kafka import KafkaContainer

    kafka = KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft()
    kafka.start()
    return kafka.get_bootstrap_server(), kafka
