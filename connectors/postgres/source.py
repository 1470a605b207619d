"""The streaming source: committed transactions from a replication slot, in commit order.

It reads the walsender (``ReplicationStream``), decodes pgoutput, assembles transactions, and
remembers two things the coordinator needs:

* the Relation messages that arrived since it last asked (schema changes to register before the
  transaction that uses them is published);
* the logical decoding messages of incremental snapshots (prefix ``strangler.snapshot``: their
  signals and watermarks, see ``incremental``), in stream order;
* the idle position: the WAL position of the last keepalive that arrived *between*
  transactions. Every transaction that committed before it has already been received, so once
  all of those are acknowledged by Kafka the slot may be confirmed up to it. That is what keeps
  the slot moving (and WAL from piling up) while the captured tables are idle.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from strangler.connectors.postgres.errors import ReplicationError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    Begin,
    Commit,
    LogicalMessage,
    Relation,
    StreamCommit,
)
from strangler.connectors.postgres.pgoutput import PgOutputDecoder
from strangler.connectors.postgres.pgtext import libpq_options
from strangler.connectors.postgres.transactions import Transaction, TransactionAssembler
from strangler.connectors.postgres.walsender import Keepalive, ReplicationStream

log = logging.getLogger("strangler.connectors.postgres.stream")

MESSAGE_PREFIX = "strangler.snapshot"
"""Logical decoding messages whose prefix starts so are kept for the coordinator."""
MESSAGES_SINCE = 140000
"""The server version from which pgoutput sends logical decoding messages."""


def replication_connection(dsn: str) -> psycopg.Connection[Any]:
    """A walsender connection with the session settings the text parsers rely on."""
    return psycopg.connect(
        dsn,
        replication="database",
        autocommit=True,
        prepare_threshold=None,
        options=libpq_options(),
    )


class StreamingSource:
    """Transactions of one slot from ``start`` on."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        slot: str,
        publication: str,
        start: Lsn,
        assembler: TransactionAssembler,
    ) -> None:
        self._conn = conn
        # messages: the signals and watermarks of incremental snapshots come as logical
        # decoding messages (pg_logical_emit_message), which pgoutput sends only when asked,
        # from PostgreSQL 14 on (older servers refuse the option)
        options = {"messages": "true"} if conn.info.server_version >= MESSAGES_SINCE else {}
        self.stream = ReplicationStream.start(conn, slot, start, [publication], options)
        self._decoder = PgOutputDecoder()
        self._assembler = assembler
        self._relations: list[Relation] = []
        self._messages: list[LogicalMessage] = []
        self.in_transaction = False
        self.idle_position: Lsn | None = None
        self.received_data = False
        """True once any XLogData arrived since the flag was last cleared (heartbeat timing)."""

    def next(self, timeout: float) -> Transaction | None:
        """The next committed transaction, or None if none completed within ``timeout``."""
        message = self.stream.read_payload(timeout)
        if isinstance(message, bytes):
            self.received_data = True
            return self._feed(message)
        if isinstance(message, Keepalive) and not self.in_transaction:
            self.idle_position = message.wal_end
        return None

    def _feed(self, payload: bytes) -> Transaction | None:
        first = payload[:1]
        if (first == b"U" or first == b"I") and self._assembler.feed_row(payload):
            return None  # encoded as it is (native_stream): nothing else to note of a row
        decoded = self._decoder.decode(payload)
        if isinstance(decoded, Begin):
            self.in_transaction = True
        elif isinstance(decoded, Relation):
            self._relations.append(decoded)
        elif isinstance(decoded, LogicalMessage) and decoded.prefix.startswith(MESSAGE_PREFIX):
            self._messages.append(decoded)
        transaction = self._assembler.feed(decoded)
        if isinstance(decoded, Commit | StreamCommit):
            self.in_transaction = False
        return transaction

    def take_relations(self) -> list[Relation]:
        """Relation messages received since the last call (definitions to register)."""
        taken, self._relations = self._relations, []
        return taken

    def take_messages(self) -> list[LogicalMessage]:
        """Incremental-snapshot messages received since the last call. ``next`` reads
        one server message per call, so a message taken after a call that returned a
        transaction came after that transaction in the stream."""
        taken, self._messages = self._messages, []
        return taken

    def close(self) -> None:
        """End replication cleanly (the confirmed position was sent before) and disconnect; a
        broken connection is just closed (the server keeps the last confirmed position)."""
        try:
            if not self._conn.closed:
                self.stream.stop()
        except (ReplicationError, psycopg.Error) as exc:
            log.warning("replication did not end cleanly: %s", exc)
        finally:
            self._conn.close()
