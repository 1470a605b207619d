"""A view in a PostgreSQL schema: each batch is COPYed into a temporary staging table (one per
connection and table shape, emptied by each commit), then applied with three set-based
statements carrying the per-key guard, in one transaction. The COPY is binary, written in C
(``_speedups.copy_binary``: the server reads each value with its type's receive function
instead of parsing text), unless a value is one it declines; then the COPY is text, written in
C (``_speedups.copy_text``) or, for a value that declines too, by psycopg.

1. remember deletes: upsert the key's delete position into ``T__strangler_deleted``, unless
   the row holds a newer position;
2. delete the rows that are not newer than their delete;
3. upsert the rows, unless the key was deleted at a newer position; on conflict update only
   if the stored row is not newer.

Statements that need no answer (BEGIN, a table's apply statements, offsets and positions) are
deferred and sent with the next statement, several in one simple query: a steady batch takes
a few round trips (the tables' read, the COPY, the apply statements, the COMMIT). The fused
apply (``fused``) writes its own COPY data (``Copied``), leaves the apply statements to go with
the COMMIT, and does not wait for that (``commit_later``, then ``settle``).

Several processes of one consumer group may share a view: offsets are per partition, and the
``_strangler_tables`` rows (shapes, truncate marks) are read ``FOR SHARE`` so a truncate or a
schema change of one process serialises with the batches of the others.
"""

from __future__ import annotations

import functools
import hashlib
import json
import select
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg import pq

from strangler.core.bookkeeping import DELETED_SUFFIX
from strangler.materializers import _speedups
from strangler.materializers.columns import Dialect, sql_type
from strangler.materializers.errors import ApplyError, TargetError
from strangler.materializers.identifiers import column_list, quote
from strangler.materializers.records import BadRecord
from strangler.materializers.statements import DELETE_FLAG, Sql
from strangler.materializers.tables import POSITION_COLUMN, Evolution, TableSpec
from strangler.materializers.target import Partition, StagedRow, TableState

_POS = quote(POSITION_COLUMN)
_DEL = quote(DELETE_FLAG)


NESTED_LOOPS_ONLY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
ANY_JOINS = "RESET enable_hashjoin; RESET enable_mergejoin"

P = ParamSpec("P")
R = TypeVar("R")


def _retriable(method: Callable[P, R]) -> Callable[P, R]:
    """Map a lost connection, a deadlock or a concurrent DDL race (another process of the
    group created the same table) to ``TargetError``: the batch is rolled back and retried."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (psycopg.OperationalError, psycopg.IntegrityError) as exc:
            raise TargetError(f"PostgreSQL: {exc}") from exc

    return wrapper


def _same_key(spec: TableSpec, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(c.name)} = {right}.{quote(c.name)}" for c in spec.key)


@dataclass(frozen=True)
class Copied:
    """A batch's changes of one table that write their own COPY binary data (the fused apply's,
    ``fused``): ``write(staged, types)`` gives the rows of the staging table (True) or of the
    view table (False: only asked when there are no deletes), ``types`` the PostgreSQL types of
    the table's columns (``PostgresStatements.types``). Their apply statements are sent
    with the COMMIT: a row the server refuses fails the commit, and the fused apply leaves the
    batch to the Python path, which then tells which row of which table it was."""

    write: Callable[[bool, Sequence[str]], bytes]
    deletes: bool
    upserts: bool


def _copy_data(
    statements: PostgresStatements, rows: Sequence[StagedRow] | Copied, staged: bool
) -> tuple[bytes | None, bool]:
    """The COPY data of ``rows`` and whether it is binary: binary written in C, else text
    written in C, else None (a value both C writers decline: psycopg writes the rows)."""
    if isinstance(rows, Copied):
        return rows.write(staged, statements.types), True
    width = len(statements.spec.columns)
    data = _speedups.copy_binary(rows, width, staged, statements.types)
    if data is not None:
        return data, True
    return _speedups.copy_text(rows, width, staged), False


class PostgresStatements:
    """The set-based apply statements for one table (see the module docstring)."""

    def __init__(self, sql: Sql, spec: TableSpec) -> None:
        self.sql, self.spec = sql, spec
        self.table = sql.name(spec.name)
        self.deleted = sql.name(spec.name + DELETED_SUFFIX)
        self.keys = column_list(c.name for c in spec.key)
        self.types = tuple(sql_type(c.avro_type).postgres for c in spec.columns)
        """The columns' PostgreSQL types, as ``copy_binary`` takes them."""
        self.stage_columns = ", ".join(
            [f"{_DEL} boolean NOT NULL", f"{_POS} bytea NOT NULL"]
            + [self.sql.column_def(c) for c in spec.columns]
        )
        digest = hashlib.blake2b(self.stage_columns.encode(), digest_size=8).hexdigest()
        self.stage = quote(f"_strangler_stage_{digest}")
        """The staging table of this shape of table (its columns' names and types): one per
        shape, so a table's next shape (a column added) gets a table of its own."""

    def create_stage(self) -> str:
        """A staging table that lasts as long as the connection; a commit empties it."""
        return (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.stage} ({self.stage_columns}) "
            "ON COMMIT DELETE ROWS"
        )

    def empty_stage(self) -> str:
        return f"DELETE FROM {self.stage}"

    def copy(self, staged: bool, binary: bool) -> str:
        """COPY into the staging table (flag, position, columns) or the view table (columns,
        position), in binary or text format."""
        columns = [c.name for c in self.spec.columns]
        if staged:
            into, names = self.stage, [DELETE_FLAG, POSITION_COLUMN, *columns]
        else:
            into, names = self.table, [*columns, POSITION_COLUMN]
        fmt = " (FORMAT binary)" if binary else ""
        return f"COPY {into} ({column_list(names)}) FROM STDIN{fmt}"

    def any_deleted(self) -> str:
        return f"SELECT 1 FROM {self.deleted} LIMIT 1"

    def remember_deletes(self) -> str:
        keys = ", ".join(f"s.{quote(c.name)}" for c in self.spec.key)
        return (
            f"INSERT INTO {self.deleted} AS d ({self.keys}, {_POS}) "
            f"SELECT {keys}, s.{_POS} FROM {self.stage} s WHERE s.{_DEL} AND NOT EXISTS "
            f"(SELECT 1 FROM {self.table} r WHERE {_same_key(self.spec, 'r', 's')} "
            f"AND r.{_POS} > s.{_POS}) "
            f"ON CONFLICT ({self.keys}) DO UPDATE SET {_POS} = excluded.{_POS} "
            f"WHERE d.{_POS} < excluded.{_POS}"
        )

    def delete_rows(self) -> str:
        return (
            f"DELETE FROM {self.table} AS r USING {self.stage} s WHERE s.{_DEL} "
            f"AND {_same_key(self.spec, 'r', 's')} AND r.{_POS} <= s.{_POS}"
        )

    def upsert_rows(self) -> str:
        """In key order: each row's conflict probe then finds the pages of the key index that
        the row before it just read, instead of pages anywhere in the index (log order)."""
        names = [c.name for c in self.spec.columns]
        sets = [f"{quote(c.name)} = excluded.{quote(c.name)}" for c in self.spec.values]
        return (
            f"INSERT INTO {self.table} AS r ({column_list(names)}, {_POS}) "
            f"SELECT {', '.join(f's.{quote(n)}' for n in names)}, s.{_POS} FROM {self.stage} s "
            f"WHERE NOT s.{_DEL} AND NOT EXISTS (SELECT 1 FROM {self.deleted} d "
            f"WHERE {_same_key(self.spec, 'd', 's')} AND d.{_POS} > s.{_POS}) "
            f"ORDER BY {', '.join(f's.{quote(c.name)}' for c in self.spec.key)} "
            f"ON CONFLICT ({self.keys}) DO UPDATE SET "
            f"{', '.join([*sets, f'{_POS} = excluded.{_POS}'])} WHERE r.{_POS} <= excluded.{_POS}"
        )


class PostgresTarget:
    """A view database in one PostgreSQL schema (see the module docstring)."""

    dialect = Dialect.POSTGRES
    apply_ahead = True  # psycopg waits for each statement outside the GIL

    def __init__(self, dsn: str, schema: str = "public") -> None:
        self.sql = Sql(Dialect.POSTGRES, schema, "%s")
        self.dsn, self.schema = dsn, schema
        self.conn = self._connect()
        self._deferred: list[str] = []
        """Statements of the open transaction not sent yet, bound (see ``_send``)."""
        self._committing = False
        """A COMMIT was sent by ``commit_later`` and not yet waited for (``settle``)."""
        self._create_bookkeeping()
        self._copying: dict[str, bool] = {}
        """Per table: False once a bulk COPY met a key already there (see _copy_new)."""
        self._stages: set[str] = set()
        """The staging tables this connection has (made in a committed transaction)."""
        self._staged: set[str] = set()
        """The staging tables made or filled in the open transaction (see _stage)."""

    @_retriable
    def _create_bookkeeping(self) -> None:
        """Schema and bookkeeping tables, under an advisory lock: several processes of one
        group starting at once would otherwise race on CREATE ... IF NOT EXISTS."""
        with self.conn.transaction():
            self._execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.schema])
            self._execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
            for statement in self.sql.bookkeeping():
                self._execute(statement)

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            conn = psycopg.connect(self.dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            raise TargetError(f"cannot connect to the view database: {exc}") from exc
        # every statement planned for its batch, never prepared (psycopg prepares a statement
        # at its fifth run): whether to hash the deleted-keys table or probe its index depends
        # on the sizes of the batch and of that table, and a plan made for a large batch while
        # the table was small hashes all of it for every later batch (136 ms for a 100-row
        # batch with 500,000 marks, against 1.6 ms planned)
        conn.prepare_threshold = None
        return conn

    def _execute(self, statement: str, params: Sequence[object] | None = None) -> None:
        self._send(statement, params)

    def _send(
        self, statement: str, params: Sequence[object] | None = None
    ) -> psycopg.Cursor[tuple[Any, ...]]:
        """Send ``statement`` together with the deferred statements before it, in one round
        trip (a simple query of several statements; the cursor is on the first one's result).
        A batch's statements are sent in a few such trips, not one each: the thread applying it
        waits for the server, then for the GIL, once per trip."""
        self.settle()
        if self._deferred:
            if params is not None:
                statement, params = self._bind(statement, params), None
            statement = "; ".join([*self._deferred, statement])
            self._deferred.clear()
        # statements are built here from quoted identifiers, never from values; psycopg's
        # typing wants a LiteralString for str queries, and takes bytes as they are
        return self.conn.execute(statement.encode(), params)

    def _bind(self, statement: str, params: Sequence[object]) -> str:
        """``statement`` with its parameters as literals, quoted by psycopg."""
        return psycopg.ClientCursor(self.conn).mogrify(statement.encode(), params)

    def _rows(
        self, statement: str, params: Sequence[object] | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows of a query sent with the deferred statements before it."""
        cursor = self._send(statement, params)
        while cursor.nextset():  # the query's result is the last one
            pass
        return cursor.fetchall()

    def _defer(self, statement: str) -> None:
        """Send ``statement`` (no parameters: bind them first) with the next one sent."""
        self._deferred.append(statement)

    def _flush(self) -> None:
        """Send the deferred statements now."""
        self.settle()
        if self._deferred:
            statements = "; ".join(self._deferred)
            self._deferred.clear()
            self.conn.execute(statements.encode())

    def begin(self) -> None:
        self.settle()
        if self.conn.broken or self.conn.closed:  # lost in an earlier batch: reconnect
            self.conn = self._connect()
            self._stages.clear()  # temporary tables end with their session
        self._staged.clear()
        self._deferred = ["BEGIN"]  # sent with the transaction's first statement

    def commit(self) -> None:
        try:
            self._execute("COMMIT")  # with the deferred offsets and positions
        except (psycopg.OperationalError, psycopg.IntegrityError) as exc:
            self._recover()
            raise TargetError(f"commit failed: {exc}") from exc
        self._stages |= self._staged

    def commit_later(self) -> None:
        """Send the COMMIT, with the statements deferred until it, and return without waiting
        for the server: ``settle`` waits. The fused apply scans the next batch meanwhile (the
        server works on this one). Any other use of the connection settles first."""
        statements = "; ".join([*self._deferred, "COMMIT"]).encode()
        self._deferred.clear()
        pgconn = self.conn.pgconn
        try:
            pgconn.send_query(statements)
            while pgconn.flush():  # a non-blocking connection: the rest when the socket takes it
                select.select([], [pgconn.socket], [])
        except psycopg.OperationalError as exc:
            self._recover()
            raise TargetError(f"commit failed: {exc}") from exc
        self._committing = True

    def settle(self) -> None:
        """Wait for the COMMIT ``commit_later`` sent, if one is out; ``TargetError`` if it
        failed (the transaction rolled back: nothing of it was applied)."""
        if not self._committing:
            return
        self._committing = False
        pgconn = self.conn.pgconn
        error = None
        try:
            while True:
                pgconn.consume_input()
                if pgconn.is_busy():
                    select.select([pgconn.socket], [], [])
                    continue
                result = pgconn.get_result()
                if result is None:
                    break
                if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                    error = (result.error_message or b"").decode(errors="replace").strip()
        except psycopg.OperationalError as exc:
            error = str(exc)
        if error is None:
            self._stages |= self._staged
            return
        self._recover()
        raise TargetError(f"commit failed: {error}")

    def _recover(self) -> None:
        """After a failed COMMIT: roll back what is left of the transaction, or close a lost
        connection (``begin`` connects again)."""
        self._deferred.clear()
        try:
            if self.conn.pgconn.status == pq.ConnStatus.BAD:
                self.conn.close()
            elif self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute(b"ROLLBACK")
        except psycopg.OperationalError:
            self.conn.close()

    def rollback(self) -> None:
        self._deferred.clear()
        if not (self.conn.closed or self.conn.broken):
            self._execute("ROLLBACK")

    def close(self) -> None:
        self._committing = False
        self.conn.close()

    @_retriable
    def load_offsets(self, view: str) -> dict[Partition, int]:
        rows = self._rows(self.sql.select_offsets(), [view])
        return {(topic, partition): offset for topic, partition, offset in rows}

    @_retriable
    def load_tables(self, view: str) -> dict[str, TableState]:
        query = self.sql.select_tables() + " FOR SHARE"
        rows = self._rows(query, [view])
        return {t: TableState(TableSpec.from_json(json.loads(s)), m) for t, s, m in rows}

    @_retriable
    def save_table(self, view: str, topic: str, state: TableState) -> None:
        spec = json.dumps(state.spec.to_json())
        self._execute(self.sql.upsert_table(), [view, topic, spec, state.truncated_at])

    @_retriable
    def lock_shapes(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.schema])

    @_retriable
    def create_table(self, spec: TableSpec) -> None:
        for statement in self.sql.create_table(spec):
            self._execute(statement)

    @_retriable
    def alter_table(self, evolution: Evolution) -> None:
        for statement in self.sql.add_columns(evolution.spec, evolution.added):
            self._execute(statement)
        table = self.sql.name(evolution.spec.name)
        for col in evolution.widened:
            new_type = sql_type(col.avro_type).postgres
            self._execute(f"ALTER TABLE {table} ALTER COLUMN {quote(col.name)} TYPE {new_type}")

    @_retriable
    def truncate(self, spec: TableSpec, position: bytes) -> None:
        for statement in self.sql.truncate(spec):
            self._execute(statement, [position])
        self._copying.pop(spec.name, None)

    def apply(self, spec: TableSpec, rows: Sequence[StagedRow] | Copied) -> None:
        try:
            self._apply(spec, rows)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise ApplyError(f"PostgreSQL refused a row of {spec.name}: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise TargetError(f"PostgreSQL failed applying to {spec.name}: {exc}") from exc

    def _apply(self, spec: TableSpec, rows: Sequence[StagedRow] | Copied) -> None:
        if isinstance(rows, Copied):
            deletes, upserts = rows.deletes, rows.upserts
        else:
            deletes = any(row.delete for row in rows)
            upserts = not all(row.delete for row in rows)
        if not (deletes or upserts):
            return
        statements = PostgresStatements(self.sql, spec)
        if not deletes and self._copy_new(spec, statements, rows):
            return
        self._stage(statements)
        self._copy(statements, rows, True)
        # each statement reads only its kind of staged rows: skip the ones with none
        if deletes:
            self._apply_deletes(statements)
        if upserts:
            self._defer(statements.upsert_rows())
        if not isinstance(rows, Copied):
            self._flush()  # in one round trip, whose errors are this table's (see ``apply``)

    def _stage(self, statements: PostgresStatements) -> None:
        """An empty staging table for this batch: made at its shape's first batch on this
        connection, emptied by each commit (``ON COMMIT DELETE ROWS``: cheaper than making and
        dropping one per batch), here if it was already filled in this transaction. One made in
        a transaction that did not commit is gone: made again."""
        if statements.stage in self._staged:
            self._execute(statements.empty_stage())
        elif statements.stage not in self._stages:
            self._execute(statements.create_stage())
        self._staged.add(statements.stage)

    def _apply_deletes(self, statements: PostgresStatements) -> None:
        """Remember the staged deletes and delete their rows, one index probe of the table per
        staged delete: left to its cost model, the planner hashes the whole view table for a
        few hundred deletes (it cannot know how few rows a fresh staging table holds, nor that
        the table is cached), a full scan of the view per batch. ``SET LOCAL`` lasts until the
        statements are done (``RESET``) or the transaction ends. Deferred: ``_apply`` sends
        them."""
        self._defer(NESTED_LOOPS_ONLY)
        self._defer(statements.remember_deletes())
        self._defer(statements.delete_rows())
        self._defer(ANY_JOINS)

    def _copy_new(
        self, spec: TableSpec, statements: PostgresStatements, rows: Sequence[StagedRow] | Copied
    ) -> bool:
        """Bulk path (a bootstrap, a table of new keys): COPY the rows (no deletes) straight
        into the table, no staging and no ON CONFLICT. Only while no key was ever deleted (so
        no guard applies to a new key); False, undone, at the first key already in the table
        (then the table is not tried again until a truncate)."""
        if not self._copying.get(spec.name, True):
            return False
        if self._rows(statements.any_deleted()):
            return False
        self._execute("SAVEPOINT strangler_copy")
        try:
            self._copy(statements, rows, False)
        except psycopg.errors.UniqueViolation:
            self._execute("ROLLBACK TO SAVEPOINT strangler_copy")
            self._copying[spec.name] = False
            return False
        self._execute("RELEASE SAVEPOINT strangler_copy")
        return True

    def _copy(
        self, statements: PostgresStatements, rows: Sequence[StagedRow] | Copied, staged: bool
    ) -> None:
        """COPY the rows into the staging table (``staged``: flag, position, columns, a delete's
        missing values NULL) or the view table: binary data written in C, else text written in
        C, else (a value both C writers decline) psycopg's ``write_row``."""
        data, binary = _copy_data(statements, rows, staged)
        self._flush()
        with self.conn.cursor() as cur, cur.copy(statements.copy(staged, binary).encode()) as copy:
            if data is not None:
                copy.write(data)
                return
            assert not isinstance(rows, Copied)  # (which always writes its data)
            width = len(statements.spec.columns)
            pad = (None,) * width
            for row in rows:
                values = row.values + pad[len(row.values) :]
                copy.write_row(
                    (row.delete, row.position, *values) if staged else (*values, row.position)
                )

    def save_offsets(self, view: str, offsets: Mapping[Partition, int]) -> None:
        """Deferred: sent with the COMMIT."""
        statement = self.sql.upsert_offset()
        for (topic, part), offset in offsets.items():
            self._defer(self._bind(statement, (view, topic, part, offset)))

    @_retriable
    def dead_letter(self, view: str, records: Sequence[BadRecord]) -> None:
        rows = [(view, r.topic, r.partition, r.offset, r.error, r.key, r.value) for r in records]
        self._flush()
        with self.conn.cursor() as cur:
            cur.executemany(self.sql.insert_dead_letter().encode(), rows)

    @_retriable
    def lock_tables(self, names: Sequence[str]) -> None:
        existing = [n for n in names if self._exists(n)]
        if existing:
            tables = ", ".join(self.sql.name(n) for n in existing)
            self._execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")

    def _exists(self, name: str) -> bool:
        query = "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s"
        return bool(self._rows(query, [self.schema, name]))

    @_retriable
    def swap_table(self, live: str, shadow: str) -> None:
        for statement in self.sql.swap(live, shadow):
            self._execute(statement)

    @_retriable
    def forget_view(self, view: str) -> None:
        for statement in self.sql.forget_view():
            self._execute(statement, [view])

    @_retriable
    def load_positions(self, view: str) -> dict[Partition, bytes]:
        rows = self._rows(self.sql.select_positions(), [view])
        return {(topic, partition): bytes(position) for topic, partition, position in rows}

    def save_positions(self, view: str, positions: Mapping[Partition, bytes]) -> None:
        """Deferred: sent with the COMMIT."""
        statement = self.sql.raise_position()
        for (topic, part), pos in positions.items():
            self._defer(self._bind(statement, (pos, view, topic, part, pos)))
