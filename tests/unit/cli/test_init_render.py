"""``strangler init``'s pure parts: reading a database URL, and the pipeline file it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from strangler.cli.config import PipelineConfig
from strangler.cli.init_cmd import (
    _dev_endpoints,
    check_rendered,
    password_variable,
    render_pipeline,
)
from strangler.cli.inspect import TableInfo, parse_url
from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.postgres.config import PostgresSource
from strangler.core.config import load_config
from strangler.core.errors import ConfigError
from strangler.core.events import TableId

pytestmark = pytest.mark.unit

TABLES = [
    TableInfo(TableId("public", "orders"), ("id",), 1200),
    TableInfo(TableId("public", "order lines"), ("order_id", "line_no"), None),
    TableInfo(TableId("public", "audit"), (), 50),
]


def test_urls_of_both_engines_are_taken_apart() -> None:
    pg = parse_url("postgresql://app:p%40ss@db.example:6543/shop")
    assert (pg.engine, pg.user, pg.password, pg.where, pg.database) == (
        "postgres", "app", "p@ss", "db.example:6543", "shop",
    )  # fmt: skip
    my = parse_url("mariadb://root@10.0.0.5/")
    assert (my.engine, my.port, my.database, my.password) == ("mysql", 3306, "", "")


def test_the_password_is_replaced_never_kept() -> None:
    url = parse_url("postgresql://app:secret@db:5432/shop")
    assert url.with_password("${PW}") == "postgresql://app:${PW}@db:5432/shop"
    assert parse_url("mysql://app@db:3306/").with_password("${PW}") == "mysql://app@db:3306/"


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql:///nohost", "shop"])
def test_other_urls_are_refused_without_echoing_a_password(url: str) -> None:
    with pytest.raises(ConfigError, match="not a database URL strangler can inspect"):
        parse_url(url)
    with pytest.raises(ConfigError) as caught:
        parse_url("oracle://scott:tiger@db/orcl")
    assert "tiger" not in str(caught.value) and "scott:***@db" in str(caught.value)


def _load(text: str, variable: str) -> PipelineConfig:
    return load_config(text, PipelineConfig, environ={variable: "x"})


def test_postgres_pipeline_captures_keyed_tables_and_comments_the_rest() -> None:
    db = parse_url("postgresql://app:secret@db:5432/shop")
    text = render_pipeline(db, TABLES, "shop", "legacy", "shop")
    assert "secret" not in text
    config = _load(text, password_variable("shop"))
    (source,) = config.sources
    assert isinstance(source, PostgresSource)
    assert source.dsn.get_secret_value() == "postgresql://app:x@db:5432/shop"
    assert source.tables.include == ["public.orders", "public.order lines"]
    assert source.tables.exclude == ["public.audit"]
    assert (source.slot, source.publication, source.topic_prefix) == (
        "strangler_shop", "strangler_shop", "legacy",
    )  # fmt: skip
    assert "    #   public.audit: {key: [column]}" in text
    assert "        - public.orders  # key (id), ~1200 rows" in text
    assert '        - "public.order lines"  # key (order_id, line_no), rows unknown' in text
    assert "#       - topic: legacy.public.orders" in text
    kafka, registry = _dev_endpoints()
    assert f"bootstrap_servers: ${{STRANGLER_KAFKA_BOOTSTRAP:-{kafka}}}" in text
    assert config.kafka.bootstrap_servers == kafka  # the variable is unset: the default
    assert config.registry is not None and config.registry.url == registry


def test_mysql_pipeline_has_a_stable_server_id_and_file_offsets() -> None:
    db = parse_url("mysql://repl:pw@db:3306/shop")
    tables = [TableInfo(TableId("shop", "items"), ("id",), 3)]
    text = render_pipeline(db, tables, "shop", "shop", "shop")
    (source,) = _load(text, password_variable("shop")).sources
    assert isinstance(source, MysqlSource)
    assert source.connection_settings()["password"] == "x"
    assert source.server_id == int(text.split("server_id: ")[1].split()[0])
    assert text == render_pipeline(db, tables, "shop", "shop", "shop")


def test_only_keyless_tables_are_still_included_so_the_file_is_valid() -> None:
    db = parse_url("postgresql://app@db/shop")
    text = render_pipeline(db, TABLES[2:], "shop", "shop", "shop")
    (source,) = load_config(text, PipelineConfig).sources
    assert source.tables.include == ["public.audit"] and not source.tables.exclude


def test_a_bad_prefix_is_caught_before_the_file_is_written(tmp_path: Path) -> None:
    db = parse_url("postgresql://app@db/shop")
    text = render_pipeline(db, TABLES, "shop", "bad prefix!", "shop")
    with pytest.raises(ConfigError, match="topic_prefix"):
        check_rendered(text, tmp_path / "p.yaml", password_variable("shop"))


def test_password_variable_is_an_environment_name() -> None:
    assert password_variable("legacy-db.eu") == "STRANGLER_LEGACY_DB_EU_PASSWORD"
