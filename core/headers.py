"""The Kafka headers of a table-topic record: what is not row data travels here.

- ``op``: c, u, d, r (snapshot read) or t (truncate), as in Debezium's envelope;
- ``position``: the source position as text, and ``position_kind`` saying how to order it
  (``pg_lsn``, ``mysql_file_pos``, ``integer``) — materializers never move a key back;
- ``tx_id`` and ``commit_ts_us`` (microseconds since the Unix epoch), when the source has them;
- ``gtid``: a MySQL/MariaDB GTID of the transaction, when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from strangler.core.events import ChangeEvent

OP = "op"
POSITION = "position"
POSITION_KIND = "position_kind"
TX_ID = "tx_id"
COMMIT_TS_US = "commit_ts_us"
GTID = "gtid"

Headers = list[tuple[str, bytes]]
ReceivedHeaders = Sequence[tuple[str, str | bytes | None]] | dict[str, str | bytes | None] | None


def event_headers(event: ChangeEvent, position_kind: str, gtid: str | None = None) -> Headers:
    """Headers of the record that carries ``event``."""
    headers: Headers = [
        (OP, event.op.value.encode()),
        (POSITION, event.position.encode().encode()),
        (POSITION_KIND, position_kind.encode()),
    ]
    if event.tx_id is not None:
        headers.append((TX_ID, event.tx_id.encode()))
    if event.commit_ts_us is not None:
        headers.append((COMMIT_TS_US, str(event.commit_ts_us).encode()))
    if gtid is not None:
        headers.append((GTID, gtid.encode()))
    return headers


def header_value(headers: ReceivedHeaders, name: str) -> str | None:
    """The text of the first header called ``name`` of a consumed record, None if absent."""
    items = headers.items() if isinstance(headers, dict) else headers or ()
    for key, value in items:
        if key == name:
            return value.decode() if isinstance(value, bytes) else value
    return None
