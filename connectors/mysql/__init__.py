"""MySQL/MariaDB connector: consistent snapshot, then the row-based binlog."""
