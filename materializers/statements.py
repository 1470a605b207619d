"""SQL text shared by both view databases: bookkeeping tables, offsets, table DDL.

Every identifier goes through ``identifiers.quote``; values are always parameters. The
bookkeeping tables live beside the view's tables (same SQLite file, same PostgreSQL schema):

- ``_strangler_offsets``: next Kafka offset per (view, topic, partition), written in the same
  transaction as the rows, read on start to seek;
- ``_strangler_tables``: per (view, topic) the table's shape (JSON) and its truncate mark;
- ``_strangler_dead_letters``: records that could not be decoded or applied.

Each view table ``T`` has a companion ``T__strangler_deleted`` with the position of each
deleted key, so a late duplicate of an older change cannot bring a deleted row back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strangler.core.bookkeeping import DELETED_SUFFIX, PREFIX
from strangler.materializers.columns import Dialect, sql_type
from strangler.materializers.identifiers import column_list, qualified, quote
from strangler.materializers.tables import POSITION_COLUMN, TableSpec, ViewColumn

OFFSETS = PREFIX + "offsets"
TABLES = PREFIX + "tables"
DEAD_LETTERS = PREFIX + "dead_letters"
DELETE_FLAG = "__strangler_delete"
"""Staging column: true for a delete, false for an upsert."""

_BLOB = {Dialect.SQLITE: "BLOB", Dialect.POSTGRES: "bytea"}
_SERIAL = {
    Dialect.SQLITE: "INTEGER PRIMARY KEY AUTOINCREMENT",
    Dialect.POSTGRES: "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}
_NOW = {Dialect.SQLITE: "CURRENT_TIMESTAMP", Dialect.POSTGRES: "now()"}


@dataclass(frozen=True, slots=True)
class Sql:
    """Statement builder for one dialect, tables in one schema (None for SQLite)."""

    dialect: Dialect
    schema: str | None = None
    param: str = "?"

    def name(self, table: str) -> str:
        return qualified(self.schema, table)

    def params(self, count: int) -> str:
        return ", ".join([self.param] * count)

    def bookkeeping(self) -> list[str]:
        """CREATE statements of the bookkeeping tables (idempotent)."""
        blob, d = _BLOB[self.dialect], self.dialect
        return [
            f"CREATE TABLE IF NOT EXISTS {self.name(OFFSETS)} ("
            f"{quote('view')} text NOT NULL, {quote('topic')} text NOT NULL, "
            f"{quote('partition')} integer NOT NULL, {quote('next_offset')} bigint NOT NULL, "
            f"{quote('position')} {blob}, "
            f"PRIMARY KEY ({column_list(['view', 'topic', 'partition'])}))",
            f"CREATE TABLE IF NOT EXISTS {self.name(TABLES)} ("
            f"{quote('view')} text NOT NULL, {quote('topic')} text NOT NULL, "
            f"{quote('spec')} text NOT NULL, {quote('truncate_position')} {blob}, "
            f"PRIMARY KEY ({column_list(['view', 'topic'])}))",
            f"CREATE TABLE IF NOT EXISTS {self.name(DEAD_LETTERS)} ("
            f"{quote('id')} {_SERIAL[d]}, {quote('view')} text NOT NULL, "
            f"{quote('topic')} text NOT NULL, {quote('partition')} integer NOT NULL, "
            f"{quote('offset')} bigint NOT NULL, {quote('error')} text NOT NULL, "
            f"{quote('key')} {blob}, {quote('value')} {blob}, "
            f"{quote('at')} timestamp NOT NULL DEFAULT {_NOW[d]})",
        ]

    def select_offsets(self) -> str:
        cols = column_list(["topic", "partition", "next_offset"])
        return f"SELECT {cols} FROM {self.name(OFFSETS)} WHERE {quote('view')} = {self.param}"

    def upsert_offset(self) -> str:
        cols = ["view", "topic", "partition", "next_offset"]
        return (
            f"INSERT INTO {self.name(OFFSETS)} ({column_list(cols)}) VALUES ({self.params(4)}) "
            f"ON CONFLICT ({column_list(cols[:3])}) DO UPDATE SET "
            f"{quote('next_offset')} = excluded.{quote('next_offset')}"
        )

    def select_positions(self) -> str:
        cols = column_list(["topic", "partition", "position"])
        return (
            f"SELECT {cols} FROM {self.name(OFFSETS)} WHERE {quote('view')} = {self.param} "
            f"AND {quote('position')} IS NOT NULL"
        )

    def raise_position(self) -> str:
        """Move a partition's applied position forward (never back); params: position,
        view, topic, partition, position."""
        pos, p = quote("position"), self.param
        keys = " AND ".join(f"{quote(c)} = {p}" for c in ("view", "topic", "partition"))
        return (
            f"UPDATE {self.name(OFFSETS)} SET {pos} = {p} WHERE {keys} "
            f"AND ({pos} IS NULL OR {pos} < {p})"
        )

    def select_tables(self) -> str:
        cols = column_list(["topic", "spec", "truncate_position"])
        return f"SELECT {cols} FROM {self.name(TABLES)} WHERE {quote('view')} = {self.param}"

    def upsert_table(self) -> str:
        cols = ["view", "topic", "spec", "truncate_position"]
        return (
            f"INSERT INTO {self.name(TABLES)} ({column_list(cols)}) VALUES ({self.params(4)}) "
            f"ON CONFLICT ({column_list(cols[:2])}) DO UPDATE SET "
            f"{quote('spec')} = excluded.{quote('spec')}, "
            f"{quote('truncate_position')} = excluded.{quote('truncate_position')}"
        )

    def insert_dead_letter(self) -> str:
        cols = ["view", "topic", "partition", "offset", "error", "key", "value"]
        return (
            f"INSERT INTO {self.name(DEAD_LETTERS)} ({column_list(cols)}) VALUES ({self.params(7)})"
        )

    def column_def(self, column: ViewColumn, not_null: bool = False) -> str:
        decl = f"{quote(column.name)} {sql_type(column.avro_type).name(self.dialect)}"
        return decl + " NOT NULL" if not_null else decl

    def create_table(self, spec: TableSpec) -> list[str]:
        """The view table and its deleted-keys companion."""
        keys = column_list(c.name for c in spec.key)
        pos = f"{quote(POSITION_COLUMN)} {_BLOB[self.dialect]} NOT NULL"
        key_defs = [self.column_def(c, True) for c in spec.key]
        cols = [*key_defs, *(self.column_def(c) for c in spec.values), pos]
        return [
            f"CREATE TABLE IF NOT EXISTS {self.name(spec.name)} "
            f"({', '.join(cols)}, PRIMARY KEY ({keys}))",
            f"CREATE TABLE IF NOT EXISTS {self.name(spec.name + DELETED_SUFFIX)} "
            f"({', '.join(key_defs)}, {pos}, PRIMARY KEY ({keys}))",
        ]

    def add_columns(self, spec: TableSpec, columns: Sequence[ViewColumn]) -> list[str]:
        table = self.name(spec.name)
        return [f"ALTER TABLE {table} ADD COLUMN {self.column_def(c)}" for c in columns]

    def truncate(self, spec: TableSpec) -> list[str]:
        """Delete rows and deleted-key marks at or before a position (one parameter)."""
        where = f"WHERE {quote(POSITION_COLUMN)} <= {self.param}"
        return [
            f"DELETE FROM {self.name(spec.name)} {where}",
            f"DELETE FROM {self.name(spec.name + DELETED_SUFFIX)} {where}",
        ]

    def swap(self, live: str, shadow: str) -> list[str]:
        """Replace table ``live`` (and its deleted-keys companion) by ``shadow``'s."""
        out: list[str] = []
        for suffix in ("", DELETED_SUFFIX):
            out.append(f"DROP TABLE IF EXISTS {self.name(live + suffix)}")
            out.append(f"ALTER TABLE {self.name(shadow + suffix)} RENAME TO {quote(live + suffix)}")
        return out

    def forget_view(self) -> list[str]:
        """Delete a view's offsets and table shapes (one parameter: the view)."""
        where = f"WHERE {quote('view')} = {self.param}"
        return [f"DELETE FROM {self.name(table)} {where}" for table in (OFFSETS, TABLES)]
