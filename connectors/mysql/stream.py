"""The streaming source: the binlog from a stored position, as committed transactions.

``BinlogSource.transactions()`` yields one ``Transaction`` per committed source transaction, in
commit order. Nothing is acknowledged here: the caller publishes a transaction's events, waits
for Kafka's acknowledgement, and only then stores ``Transaction.position``; after a restart a
new source started from that stored position yields the next transaction and nothing earlier.

The catalog (``information_schema``) is read on an ordinary connection of its own, once per
table, for the few facts a TABLE_MAP lacks; a DDL statement naming a table drops what was read
for it, so the next TABLE_MAP of that table reads it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pymysql

from strangler.connectors.mysql.binlog import BinlogReader, TableHints
from strangler.connectors.mysql.catalog import load_columns, load_primary_key
from strangler.connectors.mysql.positions import BinlogPosition, FilePosition
from strangler.connectors.mysql.transactions import Transaction, TransactionAssembler
from strangler.core.events import TableId


class BinlogSource:
    """Transactions of the tables in ``tables`` (None: every table of ``schemas``).

    ``settings``: pymysql connection settings (host, port, user, password). ``server_id`` must
    differ from the server's and every other replica's (see ``preflight``). ``start``: the stored
    position (None: the oldest binlog the server still has)."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        server_id: int,
        start: BinlogPosition | None,
        schemas: Sequence[str],
        tables: Sequence[TableId] | None = None,
        blocking: bool = True,
    ) -> None:
        self._settings = dict(settings)
        self._wanted = frozenset(tables) if tables is not None else None
        self._schemas = frozenset(schemas)
        self._catalog = pymysql.connect(**self._settings, autocommit=True)
        self.reader = BinlogReader(
            self._settings, server_id, start, schemas=schemas, blocking=blocking,
            hints=self._hints,
        )  # fmt: skip
        self.assembler = TransactionAssembler(start.gtids if start else None, self._include)

    def _include(self, table: TableId) -> bool:
        # Query events (TRUNCATE) arrive for every database, whatever the row filter
        if self._wanted is None:
            return table.schema in self._schemas
        return table in self._wanted

    def _hints(self, table: TableId) -> TableHints:
        self._catalog.ping()
        columns = load_columns(self._catalog, table)
        key = tuple(load_primary_key(self._catalog, table))
        return TableHints({c.name: c for c in columns}, key)

    def transactions(self) -> Iterator[Transaction]:
        for event in self.reader:
            tx = self.assembler.feed(event, FilePosition(self.reader.file, self.reader.pos))
            if tx is None:
                continue
            for ddl in tx.ddl:
                for table in ddl.tables:
                    self.reader.forget(table)
            yield tx

    def close(self) -> None:
        self.reader.close()
        self._catalog.close()

    def __enter__(self) -> BinlogSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
