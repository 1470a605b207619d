"""Pure pieces of the materializers: positions, filters, types, table shapes, config, quoting,
wire decoding."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import fastavro
import pytest

from strangler.core.config import load_config
from strangler.core.errors import ConfigError
from strangler.core.events import Op
from strangler.materializers.columns import Dialect, sql_type, widening
from strangler.materializers.config import RowFilter, TopicConfig, ViewConfig
from strangler.materializers.decoding import RecordDecoder, encode
from strangler.materializers.errors import MaterializerError, SchemaChangeError
from strangler.materializers.identifiers import qualified, quote
from strangler.materializers.positions import PositionError, PositionKind, sort_key
from strangler.materializers.records import BadRecord, ChangeRecord
from strangler.materializers.rowfilter import row_matches
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.tables import evolve, table_spec

pytestmark = pytest.mark.unit


def test_positions_sort_like_the_source() -> None:
    lsns = ["0/0", "0/FFFFFFFF", "1/0", "16/B374D848", "FFFFFFFF/FFFFFFFF"]
    keys = [sort_key(PositionKind.PG_LSN, p) for p in lsns]
    assert keys == sorted(keys)
    files = ["mysql-bin.000002:900", "mysql-bin.000010:4", "mysql-bin.000010:120"]
    assert [sort_key(PositionKind.MYSQL_FILE_POS, f) for f in files] == sorted(
        sort_key(PositionKind.MYSQL_FILE_POS, f) for f in files
    )
    with pytest.raises(PositionError, match="pg_lsn"):
        sort_key(PositionKind.PG_LSN, "12345")


def _filter(**data: Any) -> RowFilter:
    return RowFilter.model_validate(data)


def test_filters_compare_with_the_column_type_and_null_fails() -> None:
    f = _filter(all=[{"column": "price", "op": "ge", "value": "9.99"}])
    assert row_matches(f, {"price": decimal.Decimal("10.00")})
    assert not row_matches(f, {"price": decimal.Decimal("9.98")})
    assert not row_matches(f, {"price": None})
    day = _filter(all=[{"column": "d", "op": "lt", "value": "2024-01-01"}])
    assert row_matches(day, {"d": datetime.date(2023, 5, 1)})
    anyof = _filter(
        any=[{"column": "s", "op": "in", "value": ["a", "b"]}, {"column": "n", "op": "is_null"}]
    )
    assert row_matches(anyof, {"s": "b", "n": 1}) and row_matches(anyof, {"s": "z", "n": None})
    assert not row_matches(anyof, {"s": "z", "n": 2})


def test_filter_conditions_are_checked() -> None:
    with pytest.raises(ValueError, match="takes a list"):
        _filter(all=[{"column": "s", "op": "in", "value": "a"}])
    with pytest.raises(ValueError, match="takes no value"):
        _filter(all=[{"column": "s", "op": "is_null", "value": 1}])


def convert(avro_type: Any, value: Any) -> Any:
    converter = sql_type(avro_type).converter(Dialect.SQLITE)
    assert converter is not None
    return converter(value)


def test_types_per_dialect() -> None:
    dec = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}
    assert sql_type(dec).name(Dialect.POSTGRES) == "numeric(10, 2)"
    assert convert(dec, decimal.Decimal("1.50")) == "1.50"
    ts = {"type": "long", "logicalType": "timestamp-micros"}
    assert sql_type(["null", ts]).name(Dialect.POSTGRES) == "timestamptz"
    assert sql_type({"type": "string", "logicalType": "uuid"}).name(Dialect.POSTGRES) == "uuid"
    assert sql_type({"type": "array", "items": "int"}).name(Dialect.POSTGRES) == "jsonb"
    assert sql_type("boolean").name(Dialect.SQLITE) == "INTEGER"
    u = uuid.uuid4()
    assert convert({"type": "string", "logicalType": "uuid"}, u) == str(u)


def test_widening_rules() -> None:
    assert widening("int", "long") is True
    assert widening("long", ["null", "long"]) is False
    assert widening("long", "int") is None
    assert widening("string", "long") is None


def _schema(fields: list[dict[str, Any]], name: str = "Value") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": fields}


KEY = _schema([{"name": "id", "type": "long"}], "Key")


def test_table_spec_projects_renames_and_uses_original_names() -> None:
    topic = TopicConfig(topic="a.b.c", columns=["Order Date"], rename={"id": "ID"})
    value = _schema(
        [
            {"name": "id", "type": "long"},
            {"name": "Order_Date", "type": "string", "strangler.column": "Order Date"},
            {"name": "dropped", "type": "string"},
        ]
    )
    spec = table_spec(topic, KEY, value)
    assert spec.name == "c"
    assert [c.name for c in spec.key] == ["ID"]
    assert [(c.name, c.source) for c in spec.values] == [("Order Date", "Order Date")]


def test_evolution_adds_widens_and_refuses() -> None:
    topic = TopicConfig(topic="a.b.c")
    old = table_spec(topic, KEY, _schema([{"name": "n", "type": "int"}]))
    new = table_spec(
        topic, KEY, _schema([{"name": "n", "type": "long"}, {"name": "m", "type": "string"}])
    )
    change = evolve(old, new)
    assert [c.name for c in change.added] == ["m"] and [c.name for c in change.widened] == ["n"]
    assert [c.name for c in change.spec.values] == ["n", "m"]
    with pytest.raises(SchemaChangeError, match="not a widening"):
        evolve(old, table_spec(topic, KEY, _schema([{"name": "n", "type": "string"}])))
    other_key = _schema([{"name": "id2", "type": "long"}], "Key")
    with pytest.raises(SchemaChangeError, match="key columns changed"):
        evolve(old, table_spec(topic, other_key, None))


def test_config_needs_exactly_one_target_and_distinct_tables() -> None:
    text = """
name: v
target: {sqlite: {path: /tmp/x.db}, postgres: {dsn: "host=x"}}
topics: [{topic: a.b.c}]
"""
    with pytest.raises(ConfigError, match="exactly one"):
        load_config(text, ViewConfig)
    with pytest.raises(ConfigError, match="appears twice"):
        load_config(
            "name: v\ntarget: {sqlite: {path: x.db}}\ntopics: [{topic: a.b.c}, {topic: x.y.c}]",
            ViewConfig,
        )
    with pytest.raises(ConfigError, match="did you mean 'rename'"):
        load_config(
            "name: v\ntarget: {sqlite: {path: x.db}}\ntopics: [{topic: a, renam: {}}]", ViewConfig
        )


def test_identifiers_are_quoted() -> None:
    assert quote('we"ird') == '"we""ird"'
    assert qualified("Schéma", "select") == '"Schéma"."select"'
    with pytest.raises(MaterializerError):
        quote("a\x00b")


class _Msg:
    def __init__(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, Any]]):
        self._k, self._v, self._h = key, value, headers

    def topic(self) -> str:
        return "a.b.c"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes | None:
        return self._v

    def headers(self) -> list[tuple[str, Any]]:
        return self._h


def test_decoder_reads_wire_format_and_names_bad_records() -> None:
    value_schema = _schema([{"name": "id", "type": "long"}, {"name": "n", "type": "string"}])
    decoder = RecordDecoder([TopicConfig(topic="a.b.c")], StaticSchemas({1: KEY, 2: value_schema}))
    key = encode(1, fastavro.parse_schema(KEY), {"id": 7})
    value = encode(2, fastavro.parse_schema(value_schema), {"id": 7, "n": "x"})
    got = decoder.decode(_Msg(key, value, [("op", b"u"), ("position", b"0/10")]))
    assert isinstance(got, ChangeRecord) and got.value == {"id": 7, "n": "x"}
    assert got.position == sort_key(PositionKind.PG_LSN, "0/10") and got.op is Op.UPDATE
    tomb = decoder.decode(_Msg(key, None, [("position", b"0/11")]))
    assert isinstance(tomb, ChangeRecord) and tomb.op is Op.DELETE and tomb.value is None
    trunc = decoder.decode(_Msg(b"x", b"0/12", [("op", b"t"), ("position", b"0/12")]))
    assert isinstance(trunc, ChangeRecord) and trunc.is_truncate
    unknown = encode(9, fastavro.parse_schema(KEY), {"id": 1})
    cases = [
        (_Msg(key, value, []), "no position"),
        (_Msg(b"\x01abcd", value, [("position", b"0/1")]), "magic byte"),
        (_Msg(unknown, None, [("position", b"0/1")]), "schema id 9"),
        (_Msg(key, value, [("position", b"0/1"), ("op", b"x")]), "op='x'"),
        (_Msg(key[:5] + b"\xff", None, [("position", b"0/1")]), "cannot decode"),
        (_Msg(key + b"zz", None, [("position", b"0/1")]), "2 bytes left"),
    ]
    for msg, reason in cases:
        bad = decoder.decode(msg)
        assert isinstance(bad, BadRecord) and reason in bad.error, bad
        assert (bad.partition, bad.offset) == (2, 41)
