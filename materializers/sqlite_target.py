"""A view in a SQLite file: WAL mode, one ``BEGIN IMMEDIATE`` transaction per batch.

Changes are applied row by row with ``executemany`` over prepared statements that carry the
per-key guard themselves (numbered parameters, so the key and position are bound once):

- delete: remember the key's delete position unless the row holds a newer one, then delete
  the row if it is not newer than the delete;
- upsert: insert unless the key was deleted at a newer position; on conflict update only if
  the stored row is not newer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from strangler.core.bookkeeping import DELETED_SUFFIX
from strangler.materializers import _speedups
from strangler.materializers.columns import Dialect
from strangler.materializers.config import SqliteSync
from strangler.materializers.errors import ApplyError, TargetError
from strangler.materializers.identifiers import column_list, quote
from strangler.materializers.records import BadRecord
from strangler.materializers.statements import Sql
from strangler.materializers.tables import POSITION_COLUMN, Evolution, TableSpec
from strangler.materializers.target import Partition, StagedRow, TableState

WAL_CHECKPOINT_PAGES = 10_000
"""A commit checkpoints (copies the WAL's pages into the database file, then syncs it) once
the WAL holds this many pages (40 MB of 4 KiB pages). SQLite's default, 1,000, checkpoints
after nearly every batch of a busy view, copying pages the next batches dirty again; fewer,
larger checkpoints copy each page once for several batches. Durability is unchanged."""


def bind_none_as_is() -> None:
    """Register ``_speedups.same`` as the sqlite3 module's adapter for None, unless something
    already adapts None. Python's sqlite3 binds None (NULL) only after looking it up in its
    adapter registry and, finding nothing, trying two attributes: ~0.45 us per NULL parameter.
    Found there, the adapter hands None back at once (~0.1 us) and the same NULL is bound.
    The registry is the whole process's; what this adapter does changes nothing for others."""
    if (type(None), sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(type(None), _speedups.same)


bind_none_as_is()


def _key_match(spec: TableSpec, table: str) -> str:
    """``"t"."k1" = ?1 AND "t"."k2" = ?2``."""
    return " AND ".join(f"{table}.{quote(c.name)} = ?{i}" for i, c in enumerate(spec.key, start=1))


def delete_statements(spec: TableSpec) -> tuple[str, str]:
    """(remember the delete, delete the row); parameters: key values, then the position."""
    n, table, deleted = len(spec.key), quote(spec.name), quote(spec.name + DELETED_SUFFIX)
    pos, p = quote(POSITION_COLUMN), f"?{len(spec.key) + 1}"
    keys = column_list(c.name for c in spec.key)
    remember = (
        f"INSERT INTO {deleted} ({keys}, {pos}) "
        f"SELECT {', '.join(f'?{i}' for i in range(1, n + 2))} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {_key_match(spec, table)} "
        f"AND {table}.{pos} > {p}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {pos} = excluded.{pos} "
        f"WHERE excluded.{pos} > {deleted}.{pos}"
    )
    delete = f"DELETE FROM {table} WHERE {_key_match(spec, table)} AND {table}.{pos} <= {p}"
    return remember, delete


def insert_statement(spec: TableSpec, guarded: bool = True) -> str:
    """Insert unless the key was deleted at a newer position (a key already in the table
    fails with a constraint error); parameters: key values, value values, then the position.
    ``guarded=False``: without that check, for a view that has no deleted-key marks at all
    (the check could only ever pass there)."""
    table, deleted = quote(spec.name), quote(spec.name + DELETED_SUFFIX)
    pos = quote(POSITION_COLUMN)
    names = [c.name for c in spec.columns]
    p = f"?{len(names) + 1}"
    params = ", ".join(f"?{i}" for i in range(1, len(names) + 2))
    into = f"INSERT INTO {table} ({column_list(names)}, {pos})"
    if not guarded:
        return f"{into} VALUES ({params})"
    return (
        f"{into} SELECT {params} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {deleted} WHERE {_key_match(spec, deleted)} "
        f"AND {deleted}.{pos} > {p})"
    )


def upsert_statement(spec: TableSpec, guarded: bool = True) -> str:
    """Guarded upsert; parameters: key values, value values, then the position (``guarded``
    as for ``insert_statement``)."""
    table, pos = quote(spec.name), quote(POSITION_COLUMN)
    sets = [f"{quote(c.name)} = excluded.{quote(c.name)}" for c in spec.values]
    return (
        f"{insert_statement(spec, guarded)} "
        f"ON CONFLICT ({column_list(c.name for c in spec.key)}) DO UPDATE SET "
        f"{', '.join([*sets, f'{pos} = excluded.{pos}'])} WHERE {table}.{pos} <= excluded.{pos}"
    )


def update_statement(spec: TableSpec) -> str:
    """Update the key's row unless it is newer; parameters as ``upsert_statement``'s. A row
    that is there holds every deleted-key mark of its key at or before its own position (a
    delete removes the rows it is not older than, and an upsert is refused while a newer
    mark stands), so no mark can be newer than an update the row takes: for a row that is
    there this does what the guarded upsert does, without looking at the marks."""
    table, pos = quote(spec.name), quote(POSITION_COLUMN)
    n = len(spec.columns) + 1
    sets = [f"{quote(c.name)} = ?{i}" for i, c in enumerate(spec.columns, start=1)]
    sets = [*sets[len(spec.key) :], f"{pos} = ?{n}"]
    return (
        f"UPDATE {table} SET {', '.join(sets)} WHERE {_key_match(spec, table)} "
        f"AND {table}.{pos} <= ?{n}"
    )


def insert_absent_statement(spec: TableSpec, guarded: bool = True) -> str:
    """``insert_statement`` that leaves a key already in the table alone (for the rows an
    ``update_statement`` did not change: new keys, and rows newer than the change)."""
    keys = column_list(c.name for c in spec.key)
    return f"{insert_statement(spec, guarded)} ON CONFLICT ({keys}) DO NOTHING"


class SqliteTarget:
    """A view database in one SQLite file (see the module docstring)."""

    dialect = Dialect.SQLITE
    apply_ahead = False  # a statement takes the GIL back for every row (see ApplyThread)

    def __init__(
        self, path: Path, synchronous: SqliteSync = SqliteSync.NORMAL, cache_mib: int = 128
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sql = Sql(Dialect.SQLITE)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous.value.upper()}")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.execute(f"PRAGMA cache_size={-1024 * int(cache_mib)}")  # in KiB when negative
        self.conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        for statement in self.sql.bookkeeping():
            self.conn.execute(statement)
        self._inserting: dict[str, bool] = {}
        """Per table: False once a bulk insert met a key already there (see _insert_new)."""

    def begin(self) -> None:
        self._run("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._run("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    def _run(self, statement: str) -> None:
        try:
            self.conn.execute(statement)
        except sqlite3.OperationalError as exc:
            raise TargetError(f"SQLite {statement} failed: {exc}") from exc

    def load_offsets(self, view: str) -> dict[Partition, int]:
        rows = self.conn.execute(self.sql.select_offsets(), [view]).fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def load_tables(self, view: str) -> dict[str, TableState]:
        rows = self.conn.execute(self.sql.select_tables(), [view]).fetchall()
        return {t: TableState(TableSpec.from_json(json.loads(s)), m) for t, s, m in rows}

    def save_table(self, view: str, topic: str, state: TableState) -> None:
        spec = json.dumps(state.spec.to_json())
        self.conn.execute(self.sql.upsert_table(), [view, topic, spec, state.truncated_at])

    def create_table(self, spec: TableSpec) -> None:
        for statement in self.sql.create_table(spec):
            self.conn.execute(statement)

    def alter_table(self, evolution: Evolution) -> None:
        # SQLite's columns take any value; a widened type needs no change
        for statement in self.sql.add_columns(evolution.spec, evolution.added):
            self.conn.execute(statement)

    def truncate(self, spec: TableSpec, position: bytes) -> None:
        for statement in self.sql.truncate(spec):
            self.conn.execute(statement, [position])
        self._inserting.pop(spec.name, None)

    def apply(self, spec: TableSpec, rows: Sequence[StagedRow]) -> None:
        try:
            self._apply(spec, rows)
        except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError) as exc:
            raise ApplyError(f"SQLite refused a row of {spec.name}: {exc}") from exc
        except OverflowError as exc:  # an integer beyond SQLite's 64 bits
            raise ApplyError(f"SQLite cannot store a value of {spec.name}: {exc}") from exc
        except sqlite3.OperationalError as exc:
            raise TargetError(f"SQLite failed applying to {spec.name}: {exc}") from exc

    def _apply(self, spec: TableSpec, rows: Sequence[StagedRow]) -> None:
        # in C, per row: (*values[:len(key)], position) for a delete, (*values, position) else
        deletes, upserts = _speedups.sqlite_params(rows, len(spec.key))
        if deletes:
            remember, delete = delete_statements(spec)
            self.conn.executemany(remember, deletes)
            self.conn.executemany(delete, deletes)
        if upserts:
            self.upsert(spec, lambda statement: self.conn.executemany(statement, upserts))

    def upsert(
        self,
        spec: TableSpec,
        execute: Callable[[str], object],
        update_first: Callable[[str, str], object] | None = None,
    ) -> None:
        """Upsert a batch's rows by calling ``execute`` with the statement for them (after the
        batch's deletes): a bulk insert while the table takes only new keys, else the guarded
        upsert; or, given ``update_first`` (which runs its first statement for each row, and
        its second for a row the first did not change), an update, then an insert."""
        # the view holds no deleted-key mark (this batch's deletes are in by now): the check
        # of the marks could refuse no row, so the statements leave it out
        deleted = quote(spec.name + DELETED_SUFFIX)
        guarded = self.conn.execute(f"SELECT 1 FROM {deleted} LIMIT 1").fetchone() is not None
        if self._insert_new(spec, execute, guarded):
            return
        if update_first is None:
            execute(upsert_statement(spec, guarded))
        else:
            update_first(update_statement(spec), insert_absent_statement(spec, guarded))

    def _insert_new(self, spec: TableSpec, execute: Callable[[str], object], guarded: bool) -> bool:
        """Bulk path (a bootstrap, a table of new keys): plain guarded INSERTs, about half
        the cost of upserts; False, undone, at the first key already in the table (then the
        table is not tried again until a truncate empties it)."""
        if not self._inserting.get(spec.name, True):
            return False
        self.conn.execute("SAVEPOINT strangler_insert")
        try:
            execute(insert_statement(spec, guarded))
        except sqlite3.IntegrityError:
            self.conn.execute("ROLLBACK TO strangler_insert")
            self.conn.execute("RELEASE strangler_insert")
            self._inserting[spec.name] = False
            return False
        self.conn.execute("RELEASE strangler_insert")
        return True

    def save_offsets(self, view: str, offsets: Mapping[Partition, int]) -> None:
        rows = [(view, topic, part, offset) for (topic, part), offset in offsets.items()]
        self.conn.executemany(self.sql.upsert_offset(), rows)

    def dead_letter(self, view: str, records: Sequence[BadRecord]) -> None:
        rows = [(view, r.topic, r.partition, r.offset, r.error, r.key, r.value) for r in records]
        self.conn.executemany(self.sql.insert_dead_letter(), rows)

    def lock_shapes(self) -> None:
        pass  # BEGIN IMMEDIATE already holds SQLite's single write lock

    def lock_tables(self, names: Sequence[str]) -> None:
        pass  # BEGIN IMMEDIATE already holds SQLite's single write lock

    def swap_table(self, live: str, shadow: str) -> None:
        for statement in self.sql.swap(live, shadow):
            self.conn.execute(statement)

    def forget_view(self, view: str) -> None:
        for statement in self.sql.forget_view():
            self.conn.execute(statement, [view])

    def load_positions(self, view: str) -> dict[Partition, bytes]:
        rows = self.conn.execute(self.sql.select_positions(), [view]).fetchall()
        return {(topic, partition): bytes(position) for topic, partition, position in rows}

    def save_positions(self, view: str, positions: Mapping[Partition, bytes]) -> None:
        rows = [(pos, view, topic, part, pos) for (topic, part), pos in positions.items()]
        self.conn.executemany(self.sql.raise_position(), rows)
