"""Replication slot commands, sent on a replication connection (``replication="database"``).

``CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')`` returns the slot's consistent point and the
name of a snapshot that sees exactly the data committed before it. Another session can adopt
that snapshot (``SET TRANSACTION SNAPSHOT``) to read the tables as of the consistent point,
then streaming starts at the same point: no change is lost or seen twice. Quirk: the exported
snapshot only lives until the replication connection runs its next command (or closes), so
keep that connection idle until every reader has imported the snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from strangler.connectors.postgres.errors import SlotError
from strangler.connectors.postgres.lsn import Lsn

_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}\Z")


@dataclass(frozen=True, slots=True)
class CreatedSlot:
    name: str
    consistent_point: Lsn
    """Where streaming of this slot starts; the exported snapshot shows the data before it."""
    snapshot_name: str | None


@dataclass(frozen=True, slots=True)
class SystemIdentity:
    system_id: str
    timeline: int
    wal_position: Lsn
    database: str | None


def check_slot_name(name: str) -> str:
    """Slot names may hold only lower-case letters, digits and underscores (at most 63)."""
    if not _SLOT_NAME.match(name):
        raise SlotError(
            f"{name!r} is not a valid replication slot name",
            fix="use 1-63 characters of a-z, 0-9 and _",
        )
    return name


def identify_system(conn: psycopg.Connection[Any]) -> SystemIdentity:
    row = conn.execute("IDENTIFY_SYSTEM").fetchone()
    if row is None:
        raise SlotError("IDENTIFY_SYSTEM returned nothing; is this a replication connection?")
    system_id, timeline, position, database = row
    return SystemIdentity(str(system_id), int(timeline), Lsn.parse(str(position)), database)


def create_slot(
    conn: psycopg.Connection[Any], name: str, *, export_snapshot: bool, temporary: bool = False
) -> CreatedSlot:
    """Create a pgoutput logical slot; with ``export_snapshot`` also export its snapshot."""
    kind = "TEMPORARY " if temporary else ""
    snapshot = "export" if export_snapshot else "nothing"
    command = (
        f"CREATE_REPLICATION_SLOT {check_slot_name(name)} {kind}LOGICAL pgoutput "
        f"(SNAPSHOT '{snapshot}')"
    )
    try:
        row = conn.execute(command).fetchone()
    except psycopg.Error as exc:
        raise SlotError(f"cannot create replication slot {name!r}: {exc}") from exc
    if row is None:
        raise SlotError(f"CREATE_REPLICATION_SLOT {name!r} returned nothing")
    return CreatedSlot(str(row[0]), Lsn.parse(str(row[1])), row[2])


def drop_slot(conn: psycopg.Connection[Any], name: str, *, wait: bool = False) -> None:
    """Drop a slot (``WAIT``: until it is no longer active, instead of failing)."""
    suffix = " WAIT" if wait else ""
    command = f"DROP_REPLICATION_SLOT {check_slot_name(name)}{suffix}"
    try:
        conn.execute(command)
    except psycopg.Error as exc:
        raise SlotError(f"cannot drop replication slot {name!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SlotState:
    name: str
    plugin: str | None
    database: str | None
    confirmed_flush: Lsn | None
    """Where streaming resumes (None if the slot never reached a consistent point)."""
    active: bool


def find_slot(conn: psycopg.Connection[Any], name: str) -> SlotState | None:
    """The slot called ``name`` (from ``pg_replication_slots``, on an ordinary connection)."""
    row = conn.execute(
        "SELECT slot_name, plugin, database, confirmed_flush_lsn::text, active "
        "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    slot, plugin, database, confirmed, active = row
    position = None if confirmed is None else Lsn.parse(confirmed)
    return SlotState(str(slot), plugin, database, position, bool(active))
