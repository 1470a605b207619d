"""MySQL/MariaDB connector: consistent snapshot, then the row-based binlog.

Modules, one noun each:

- ``positions``: MariaDB GTID positions, MySQL GTID sets, file:pos, and ``BinlogPosition``.
- ``types``: the type table (column type → Avro type + converters for both read paths).
- ``rows``: ``TableCodec``, a table version's ``TableSchema`` and row conversion.
- ``catalog``: ``information_schema`` reads and identifier quoting.
- ``binlog``: the one wrapper around python-mysql-replication (frozen events out).
- ``ddl``: recognising table DDL in Query events.
- ``transactions``: binlog events → committed ``Transaction``s of ``ChangeEvent``s.
- ``stream``: ``BinlogSource``, the streaming source from a stored position.
- ``snapshot``: ``SnapshotReader``, the consistent snapshot in key chunks.
- ``preflight``: server checks, each finding with its fix.
- ``errors``: the connector's errors (all ``StranglerError``).

The runner (snapshot and stream to Kafka):

- ``config``: ``MysqlSource``, the ``type: mysql`` entry of a pipeline file.
- ``connector``: ``MysqlConnector``, the coordinator; ``run_mysql_source`` for the CLI.
- ``state``: the stored position and snapshot progress (in a ``connectors.offsets`` store).
- ``shapes``: published table schemas (key override, excluded columns), registered first.
- ``snapshotter``: ``SnapshotSource``, snapshot chunks published and recorded as acknowledged.
- ``metrics``: counts, commit-to-acknowledgement latency, lag.
"""
