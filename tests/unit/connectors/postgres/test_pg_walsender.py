from __future__ import annotations

import struct

import pytest

from strangler.connectors.postgres.errors import DecodeError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import PgTimestamp
from strangler.connectors.postgres.pgtime import PG_EPOCH_UNIX_US, from_unix_us, to_unix_us
from strangler.connectors.postgres.walsender import (
    Keepalive,
    XLogData,
    decode_server_message,
    encode_standby_status,
    quote_identifier,
    quote_literal,
    start_replication_command,
)

pytestmark = pytest.mark.unit


def test_xlogdata() -> None:
    data = b"w" + struct.pack("!QQq", 0x1_0000_0010, 0x1_0000_0020, 123) + b"B\x00payload"
    assert decode_server_message(data) == XLogData(
        Lsn.parse("1/10"), Lsn.parse("1/20"), PgTimestamp(123), b"B\x00payload"
    )


@pytest.mark.parametrize("reply", [0, 1])
def test_keepalive(reply: int) -> None:
    data = b"k" + struct.pack("!Qqb", 0xABC, -5, reply)
    assert decode_server_message(data) == Keepalive(Lsn(0xABC), PgTimestamp(-5), bool(reply))


@pytest.mark.parametrize(
    "data", [b"", b"x123", b"w" + bytes(23), b"k" + bytes(16), b"k" + bytes(18)]
)
def test_malformed_server_messages(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_server_message(data)


def test_standby_status_layout() -> None:
    data = encode_standby_status(Lsn.parse("2/30"), PgTimestamp(99), reply=True)
    lsn = (2 << 32) | 0x30
    assert data == b"r" + struct.pack("!QQQqB", lsn, lsn, lsn, 99, 1)
    assert len(data) == 34


def test_standby_status_written_may_lead_flushed() -> None:
    data = encode_standby_status(Lsn(16), PgTimestamp(0), written=Lsn(32))
    assert struct.unpack("!QQQqB", data[1:]) == (32, 16, 16, 0, 0)


def test_pg_epoch() -> None:
    assert PG_EPOCH_UNIX_US == 946_684_800 * 1_000_000
    assert to_unix_us(PgTimestamp(0)) == PG_EPOCH_UNIX_US
    assert from_unix_us(to_unix_us(PgTimestamp(-7))) == -7


def test_quoting() -> None:
    assert quote_identifier('a"b') == '"a""b"'
    assert quote_literal("it's") == "'it''s'"


def test_start_replication_command_quotes_publications() -> None:
    command = start_replication_command(
        "slot_1", Lsn.parse("0/16B3748"), ["pub", 'My "Pub", 2'], {"proto_version": "1"}
    )
    assert command == (
        'START_REPLICATION SLOT "slot_1" LOGICAL 0/16B3748 '
        """("proto_version" '1', "publication_names" '"pub","My ""Pub"", 2"')"""
    )
