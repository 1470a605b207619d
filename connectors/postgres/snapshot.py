"""Reading tables as of a replication slot's consistent point (the initial snapshot).

The slot's exported snapshot is imported into a REPEATABLE READ, READ ONLY transaction, so
every table is read exactly as it was when the slot was created; streaming then starts at the
slot's consistent point and neither loses nor repeats a change.

Each table is read in key order, ``chunk_rows`` rows at a time, by keyset pagination
(``WHERE (k1, k2) > (last1, last2) ORDER BY k1, k2 LIMIT n``): memory stays bounded and every
chunk is an index range scan. Rows travel as ``COPY … TO STDOUT`` text (faster than a result
set) and are decoded by the same ``RowDecoder`` as the stream, under the same session settings,
so a snapshot row and a streamed row of the same data are equal values. The last key of a chunk
goes back into the next query as untyped literals of its text form, which PostgreSQL resolves
to the key columns' types. A table without a primary key is read in one pass, unordered.

The native path (``encoded_chunks``) hands each chunk's COPY bytes to a ``NativeTable``, which
encodes them straight to Avro records (Python only for the rows the C code declines).

Resuming: ``chunks(relation, after)`` also gives each chunk's last key (text form), so a caller
can record completed chunks and start again after the last one. Without a snapshot name the
reader takes a fresh REPEATABLE READ snapshot instead of importing one (used to resume after the
exported snapshot is gone: the stream replays every change since the slot's position, so the
topics still converge to the tables).

DDL racing the snapshot: the reader locks its tables (ACCESS SHARE) at once, so no DDL commits
while it reads; but DDL can commit between the slot's creation and that lock. A query's columns
are then resolved against the current catalog while the snapshot's rows (and its view of the
catalog) are older: a table is therefore described from the current catalog (``describe(...,
catalog=...)``, another connection, read after the lock), and a table rewritten in that window
(ALTER COLUMN TYPE, TRUNCATE, a volatile default: a new relfilenode) reads as empty under the
older snapshot, so ``rewritten`` names it for the caller to read under a fresh snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from strangler.connectors.postgres.catalog import describe_table, load_types
from strangler.connectors.postgres.copytext import parse_copy_line, parse_copy_rows
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import Relation, RelationColumn, TupleData
from strangler.connectors.postgres.native import EncodedChunk, NativeTable
from strangler.connectors.postgres.pgtext import SESSION_SETTINGS
from strangler.connectors.postgres.relations import table_id
from strangler.connectors.postgres.rows import RowDecoder
from strangler.connectors.postgres.types import TypeInfo
from strangler.core.events import ChangeEvent, Op, TableId

_Text = tuple[str | None, ...]


class SnapshotReader:
    """Reads tables inside one transaction that has imported ``snapshot_name``.

    ``conn`` is an ordinary connection of its own (not autocommit); ``position`` is the slot's
    consistent point, carried by every event. Use as a context manager: the transaction ends
    (rolled back: it only read) on exit.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        snapshot_name: str | None,
        position: Lsn,
        *,
        chunk_rows: int = 10_000,
        lock: Sequence[TableId] = (),
    ) -> None:
        self._conn = conn
        self._lock = list(lock)
        self._snapshot = snapshot_name
        self.position = position
        self.chunk_rows = chunk_rows
        self.catalog: dict[int, TypeInfo] = {}
        self._decode = RowDecoder(self.catalog)

    def __enter__(self) -> SnapshotReader:
        self._conn.autocommit = False
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._conn.read_only = True
        if self._snapshot is not None:
            # SET TRANSACTION SNAPSHOT must be the first statement of the transaction
            self._conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(self._snapshot))
        if self._lock:
            # ACCESS SHARE for the snapshot's duration: DDL waits until the snapshot ends instead
            # of breaking its reads; inserts, updates and deletes are not blocked. Without an
            # imported snapshot the lock comes before the first query, which takes the snapshot:
            # nothing can change the tables' definitions between the two.
            names = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in self._lock)
            self._conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(names))
        for name, value in SESSION_SETTINGS.items():
            self._conn.execute("SELECT pg_catalog.set_config(%s, %s, true)", (name, value))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._conn.rollback()

    def sibling(self, conn: psycopg.Connection[Any]) -> SnapshotReader:
        """Another reader of this reader's snapshot, on ``conn`` (enter it while this one is
        open): the same imported snapshot, or this transaction's own, exported for it. It needs
        no lock (this reader holds them) and decodes with this reader's types (one catalog)."""
        name = self._snapshot
        if name is None:
            row = self._conn.execute("SELECT pg_catalog.pg_export_snapshot()").fetchone()
            assert row is not None
            name = self._snapshot = str(row[0])  # one export serves every sibling
        sibling = SnapshotReader(conn, name, self.position, chunk_rows=self.chunk_rows)
        sibling.catalog = self.catalog
        sibling._decode = RowDecoder(self.catalog)
        return sibling

    def describe(
        self,
        table: TableId,
        key: Sequence[str] | None = None,
        *,
        catalog: psycopg.Connection[Any] | None = None,
    ) -> Relation:
        """The table's description (``key`` overrides the primary key), types loaded; read on
        ``catalog`` (an autocommit connection: the current catalog) when given, else as the
        snapshot sees it.

        An overriding key must be unique and NOT NULL, as a primary key is: chunks are cut by
        comparing key values, and NULLs would fall out of every range."""
        conn = catalog if catalog is not None else self._conn
        relation = describe_table(conn, table)
        if key is not None:
            relation = _with_key(relation, key)
        self.catalog.update(load_types(conn, [c.type_oid for c in relation.columns]))
        return relation

    def rewritten(
        self, tables: Sequence[TableId], catalog: psycopg.Connection[Any]
    ) -> list[TableId]:
        """Those of ``tables`` whose storage (or a partition's) the current catalog, read on
        ``catalog``, places elsewhere than the snapshot does: rewritten or truncated after the
        snapshot was taken, so this snapshot would read them as empty."""
        return [t for t in tables if _filenodes(self._conn, t) != _filenodes(catalog, t)]

    def read(self, relation: Relation) -> Iterator[list[ChangeEvent]]:
        """The table's rows as snapshot-read events, one list per chunk."""
        for events, _last in self.chunks(relation):
            yield events

    def chunks(
        self, relation: Relation, after: _Text | None = None
    ) -> Iterator[tuple[list[ChangeEvent], _Text | None]]:
        """Chunks of events with the text form of their last key (None for a keyless table),
        starting after the key ``after`` (from the beginning when None)."""
        key = [c.name for c in relation.columns if c.is_key]
        for rows, last in self.row_chunks(relation, after):
            yield [self._event(relation, key, row) for row in rows], last

    def row_chunks(
        self, relation: Relation, after: _Text | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], _Text | None]]:
        """``chunks`` as rows (column name → value) rather than events: the snapshot's hot
        path publishes them without building an event for each."""
        decode = self._decode
        for data, last in self._pages(relation, after):
            yield [decode(relation, TupleData(text)) for text in parse_copy_rows(data)], last

    def encoded_chunks(
        self, relation: Relation, table: NativeTable, after: _Text | None = None
    ) -> Iterator[tuple[EncodedChunk, _Text | None]]:
        """``row_chunks`` as records already encoded by ``table`` (the native path): the same
        chunks, the same last keys."""
        for data, last in self._pages(relation, after):
            yield table.encode(data), last

    def _pages(
        self, relation: Relation, after: _Text | None = None
    ) -> Iterator[tuple[bytes, _Text | None]]:
        """The COPY text of each chunk and the text form of its last key (a keyless table: all
        of it at once, and None). Values never hold a raw newline, so lines count rows."""
        key = [c.name for c in relation.columns if c.is_key]
        if not key:
            yield self._copy(relation, [], None), None
            return
        positions = [i for i, c in enumerate(relation.columns) if c.is_key]
        last: _Text | None = after
        while True:
            data = self._copy(relation, key, last)
            rows = data.count(b"\n")
            if rows:
                fields = parse_copy_line(data[data.rfind(b"\n", 0, len(data) - 1) + 1 : -1])
                last = tuple(fields[i] for i in positions)
                yield data, last
            if rows < self.chunk_rows:
                return

    def _copy(self, relation: Relation, key: list[str], after: _Text | None) -> bytes:
        query = _select(relation, key, after, self.chunk_rows)
        copy_sql = sql.SQL("COPY ({}) TO STDOUT").format(query)
        data = bytearray()
        with self._conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for block in copy:
                data += block
        return bytes(data)

    def _event(self, relation: Relation, key: list[str], row: dict[str, Any]) -> ChangeEvent:
        key_row = {name: row[name] for name in key} if key else None
        return ChangeEvent(table_id(relation), Op.READ, key_row, None, row, self.position)


PARTITION_TREE = """
WITH RECURSIVE tree(relid) AS (
    SELECT %(table)s::regclass::oid
    UNION ALL
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
"""
"""The table and its partitions, read from pg_inherits: unlike pg_partition_tree() it takes no
lock, so a catalog query during a snapshot cannot queue behind a DDL that waits for the
snapshot's own locks (a deadlock no server sees: both waits are in this process)."""

# the table's storage and its partitions' (a partitioned table has none of its own: 0)
_FILENODES = (
    PARTITION_TREE
    + """
SELECT c.oid, c.relfilenode FROM pg_catalog.pg_class c JOIN tree t ON c.oid = t.relid
"""
)


def qualified_name(conn: psycopg.Connection[Any], table: TableId) -> str:
    """``"schema"."table"``, quoted: the text a ``%s::regclass`` parameter takes."""
    return sql.Identifier(table.schema, table.name).as_string(conn)


def _filenodes(conn: psycopg.Connection[Any], table: TableId) -> dict[int, int]:
    rows = conn.execute(_FILENODES, {"table": qualified_name(conn, table)}).fetchall()
    return {int(oid): int(node) for oid, node in rows}


def _select(relation: Relation, key: list[str], after: _Text | None, limit: int) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in relation.columns)
    table = sql.Identifier(relation.namespace, relation.name)
    query = sql.SQL("SELECT {} FROM {}").format(columns, table)
    if not key:
        return query
    key_list = sql.SQL(", ").join(sql.Identifier(name) for name in key)
    if after is not None:
        # key columns are NOT NULL (primary key), so the row comparison is total
        values = sql.SQL(", ").join(sql.Literal(v) for v in after)
        query += sql.SQL(" WHERE ({}) > ({})").format(key_list, values)
    return query + sql.SQL(" ORDER BY {} LIMIT {}").format(key_list, sql.Literal(limit))


def _with_key(relation: Relation, key: Sequence[str]) -> Relation:
    columns = tuple(
        RelationColumn(c.name in key, c.name, c.type_oid, c.type_modifier) for c in relation.columns
    )
    return Relation(
        None, relation.oid, relation.namespace, relation.name, relation.replica_identity, columns
    )
