"""PostgreSQL connector: logical replication (pgoutput) and consistent snapshots."""
