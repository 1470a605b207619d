"""PostgreSQL connector: consistent snapshot, then logical replication (pgoutput).

How the pieces fit (each module is one noun):

* ``slot``: ``CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')`` on a replication connection gives
  a consistent point (an ``lsn.Lsn``) and a snapshot name.
* ``snapshot``: ``SnapshotReader`` imports that snapshot and reads tables in key-ordered chunks
  (COPY text, ``copytext``) as ``Op.READ`` events at the consistent point.
* ``walsender``: ``ReplicationStream`` runs ``START_REPLICATION`` from the consistent point and
  frames XLogData / keepalive / standby status over psycopg's ``pgconn``.
* ``pgoutput`` (with ``wire`` and ``messages``): pure decoding of each XLogData payload.
* ``transactions``: ``TransactionAssembler`` turns messages into committed ``Transaction``s of
  ``ChangeEvent``s in commit order, positioned at the commit's end LSN (``relations`` caches
  Relation messages, ``spill`` bounds memory for large transactions).
* ``types`` / ``pgtext`` / ``arrays``: the type table (oid → Avro type + text parser);
  ``catalog`` reads the facts pgoutput does not send; ``rows`` converts tuples and builds the
  engine-neutral ``strangler.core.schema.TableSchema``.

Replication and snapshot sessions must use ``pgtext.SESSION_SETTINGS`` (``libpq_options()``):
the text forms the parsers expect depend on them.

The runner on top of them:

* ``config``: the ``sources:`` entry (``PostgresSource``; engine-neutral parts in
  ``strangler.connectors.config``); ``preflight``: findings with their fixes;
* ``publication`` and ``slot``: created or reused; ``progress``: the snapshot progress file;
* ``snapshotter`` (snapshot source) and ``source`` (streaming source) under ``connector``
  (``PostgresConnector``, the coordinator); ``schemas`` registers each table's shape before its
  events are published; ``encoding`` is the hot-path serializer; ``registrar`` talks to the
  registry; ``metrics`` counts events, lag and retained WAL; ``exactly_once`` holds the Kafka
  transactions and the offsets topic of exactly-once mode.
"""
