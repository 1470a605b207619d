"""The ``_schemas`` record format (golden bytes) and the SQLite log (restart loses nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from strangler.schema_registry.model import (
    CompatibilityLevel,
    Mode,
    SchemaId,
    SchemaReference,
    SchemaText,
    Subject,
    Version,
)
from strangler.schema_registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    MalformedRecord,
    ModeRecord,
    NoopRecord,
    SchemaRecord,
    SchemaTombstone,
    decode,
    encode,
)
from strangler.schema_registry.registry import SchemaRegistry, SchemaRequest
from strangler.schema_registry.sqlite_storage import SqliteStorage

pytestmark = pytest.mark.unit

S = Subject("orders-value")
REF = SchemaReference("com.acme.Address", Subject("address"), Version(2))

GOLDEN = [
    (
        SchemaRecord(S, Version(3), SchemaId(7), SchemaText('"string"')),
        b'{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}',
        b'{"subject":"orders-value","version":3,"id":7,"schema":"\\"string\\"","deleted":false}',
    ),
    (
        SchemaRecord(S, Version(1), SchemaId(2), SchemaText('"int"', (REF,)), deleted=True),
        b'{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}',
        b'{"subject":"orders-value","version":1,"id":2,"references":[{"name":"com.acme.Address",'
        b'"subject":"address","version":2}],"schema":"\\"int\\"","deleted":true}',
    ),
    (
        SchemaTombstone(S, Version(3)),
        b'{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}',
        None,
    ),
    (
        ConfigRecord(None, CompatibilityLevel.FULL),
        b'{"keytype":"CONFIG","magic":0}',
        b'{"compatibilityLevel":"FULL"}',
    ),
    (ConfigRecord(S, None), b'{"keytype":"CONFIG","subject":"orders-value","magic":0}', None),
    (
        ModeRecord(S, Mode.READONLY),
        b'{"keytype":"MODE","subject":"orders-value","magic":0}',
        b'{"mode":"READONLY"}',
    ),
    (
        DeleteSubjectRecord(S, Version(4)),
        b'{"keytype":"DELETE_SUBJECT","subject":"orders-value","magic":0}',
        b'{"subject":"orders-value","version":4}',
    ),
    (NoopRecord(), b'{"keytype":"NOOP","magic":0}', None),
]


@pytest.mark.parametrize(("record", "key", "value"), GOLDEN)
def test_records_encode_to_confluents_bytes_and_back(
    record: object, key: bytes, value: bytes | None
) -> None:
    assert encode(record) == (key, value)  # type: ignore[arg-type]
    assert decode(key, value) == record


def test_foreign_variants_are_read() -> None:
    karapace_global = decode(
        b'{"keytype":"CONFIG","subject":null,"magic":0}', b'{"compatibilityLevel":"NONE"}'
    )
    assert karapace_global == ConfigRecord(None, CompatibilityLevel.NONE)
    old_magic = decode(
        b'{"keytype":"SCHEMA","subject":"s","version":1,"magic":0}',
        b'{"subject":"s","version":1,"id":1,"schemaType":"AVRO","schema":"\\"int\\"","md5":"x","deleted":false}',
    )
    assert old_magic == SchemaRecord(Subject("s"), Version(1), SchemaId(1), SchemaText('"int"'))
    assert decode(b'{"keytype":"CONTEXT","tenant":"default","context":".x"}', b"{}") is None
    assert (
        decode(b'{"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}', b'{"subject":"s"}')
        == NoopRecord()
    )


@pytest.mark.parametrize(
    ("key", "value"), [(b"not json", None), (b"[]", None), (b'{"keytype":"SCHEMA"}', b"{}")]
)
def test_malformed_records_are_reported(key: bytes, value: bytes | None) -> None:
    with pytest.raises(MalformedRecord):
        decode(key, value)


def test_sqlite_restart_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "schemas.db"
    first = SchemaRegistry(SqliteStorage(path))
    a = first.register(Subject("a"), SchemaRequest('{"type":"record","name":"A","fields":[]}'))
    first.register(Subject("b"), SchemaRequest('"string"'))
    first.set_level(Subject("a"), CompatibilityLevel.NONE)
    first.delete_subject(Subject("b"))
    first.close()
    second = SchemaRegistry(SqliteStorage(path))
    assert second.subjects() == ["a"]
    assert second.subjects(deleted=True) == ["a", "b"]
    assert second.schema_by_id(a.schema_id).schema == '{"type":"record","name":"A","fields":[]}'
    assert second.level(Subject("a")) is CompatibilityLevel.NONE
    assert second.register(Subject("c"), SchemaRequest('"long"')).schema_id == 3
    second.close()


def test_two_registries_on_one_sqlite_file_see_each_other(tmp_path: Path) -> None:
    one, two = (
        SchemaRegistry(SqliteStorage(tmp_path / "s.db")),
        SchemaRegistry(SqliteStorage(tmp_path / "s.db")),
    )
    assert one.register(Subject("x"), SchemaRequest('"int"')).schema_id == 1
    assert two.register(Subject("y"), SchemaRequest('"long"')).schema_id == 2  # catches up first
    one.close()
    two.close()
