"""``strangler init DATABASE_URL``: inspect a database and write a commented pipeline file.

The file captures every table that has a primary key; tables without one are listed under
``exclude`` with a commented override (they need ``key:`` columns before they can be captured).
Kafka and the registry point at the dev stack unless ``STRANGLER_KAFKA_BOOTSTRAP`` /
``STRANGLER_REGISTRY_URL`` are set; the database password is never written: the URL refers to
an environment variable instead. The result passes ``strangler validate``.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import click

from strangler.cli.inspect import DatabaseUrl, TableInfo, inspect_database, parse_url
from strangler.core.errors import ConfigError


def _name_from(text: str) -> str:
    """A pipeline/source name from a database name (letters, digits, . _ -)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned or "legacy"


def password_variable(source: str) -> str:
    return "STRANGLER_" + re.sub(r"[^A-Z0-9]+", "_", source.upper()).strip("_") + "_PASSWORD"


def _q(text: str) -> str:
    """A YAML scalar: JSON strings are YAML double-quoted strings."""
    return text if re.fullmatch(r"[A-Za-z0-9_.*/-]+", text) else json.dumps(text)


def _describe(info: TableInfo) -> str:
    rows = "rows unknown" if info.rows is None else f"~{info.rows} rows"
    return f"key ({', '.join(info.key)}), {rows}" if info.key else f"NO PRIMARY KEY, {rows}"


def _dev_endpoints() -> tuple[str, str]:
    from strangler.cli.devstack.settings import HOST, StackSettings, default_base_dir

    stack = StackSettings(default_base_dir()).with_saved()
    return f"{HOST}:{stack.kafka_port}", f"http://{HOST}:{stack.registry_port}"


def render_pipeline(
    db: DatabaseUrl, tables: Sequence[TableInfo], name: str, prefix: str, source: str
) -> str:
    """The commented pipeline file for ``tables`` of ``db``."""
    kafka, registry = _dev_endpoints()
    keyless = [t for t in tables if not t.key]
    lines = [
        f"# strangler pipeline for the {db.engine} database {db.database or '(all databases)'} "
        f"at {db.where}",
        f"# written by `strangler init`: {len(tables)} table(s), {len(keyless)} without a "
        "primary key.",
        "# Next: `strangler validate FILE`, then `strangler doctor FILE` (a live preflight).",
        "# Every key is described in docs/pipeline-reference.md (`strangler reference`).",
        "version: 1",
        f"name: {_q(name)}",
        "",
        "kafka:",
        "  # the dev stack's broker unless STRANGLER_KAFKA_BOOTSTRAP is set",
        f"  bootstrap_servers: ${{STRANGLER_KAFKA_BOOTSTRAP:-{kafka}}}",
        "  partitions: 1",
        "  replication_factor: -1  # -1: the brokers' default",
        "",
        "registry:",
        "  # the dev stack's registry unless STRANGLER_REGISTRY_URL is set",
        f"  url: ${{STRANGLER_REGISTRY_URL:-{registry}}}",
        "",
        "sources:",
        *_source_lines(db, tables, prefix, source),
        "",
        *_view_lines(tables, prefix),
    ]
    return "\n".join(lines) + "\n"


def _source_lines(
    db: DatabaseUrl, tables: Sequence[TableInfo], prefix: str, source: str
) -> list[str]:
    variable = password_variable(source)
    lines = [f"  - type: {db.engine}", f"    name: {_q(source)}"]
    if db.password:
        lines.append(f"    # the password comes from the environment: export {variable}=...")
    url = db.with_password(f"${{{variable}}}")
    if db.engine == "postgres":
        slot = "strangler_" + re.sub(r"[^a-z0-9_]+", "_", source.lower())[:50]
        lines += [
            f"    dsn: {_q(url)}",
            "    # the role needs REPLICATION (or superuser) and SELECT on the tables",
            f"    slot: {slot}",
            f"    publication: {slot}",
        ]
    else:
        server_id = 100_000 + zlib.crc32(source.encode()) % 900_000
        lines += [
            f"    url: {_q(url)}",
            "    # the user needs SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT",
            f"    server_id: {server_id}  # unique among the server and its replicas",
            "    offsets: {store: file}  # or {store: kafka} to resume on any machine",
        ]
    lines += [f"    topic_prefix: {_q(prefix)}", "    tables:", "      include:"]
    lines += [f"        - {_q(str(t.table))}  # {_describe(t)}" for t in tables if t.key]
    keyless = [t for t in tables if not t.key]
    if not any(t.key for t in tables):
        lines += [f"        - {_q(str(t.table))}  # {_describe(t)}" for t in keyless]
    elif keyless:
        lines += ["      # no primary key: give each a key below, then remove it here"]
        lines += ["      exclude:"]
        lines += [f"        - {_q(str(t.table))}  # {_describe(t)}" for t in keyless]
    if keyless:
        lines += ["    # key columns (unique and NOT NULL) for the tables without a primary key:"]
        lines += ["    # overrides:"]
        lines += [f"    #   {_q(str(t.table))}: {{key: [column]}}" for t in keyless]
    lines += [
        "    snapshot: {mode: initial, chunk_rows: 20000}",
        "    state_dir: .strangler/state",
    ]
    return lines


def _view_lines(tables: Sequence[TableInfo], prefix: str) -> list[str]:
    from strangler.connectors.topics import table_topic

    sample = next((t for t in tables if t.key), tables[0])
    topic = table_topic(prefix, sample.table)
    return [
        "# A local copy for a service (`strangler materialize FILE`): uncomment and adapt.",
        "# views:",
        f"#   - name: {sample.table.name}-view",
        "#     target:",
        f"#       sqlite: {{path: views/{sample.table.name}.db}}",
        "#     topics:",
        f"#       - topic: {topic}",
        "#         # columns: [...]   # all when not given",
        "#         # filter: {all: [{column: ..., op: eq, value: ...}]}",
    ]


def check_rendered(text: str, path: Path, variable: str) -> None:
    """The file must load as a pipeline (with the password variable set to anything)."""
    from strangler.cli.config import PipelineConfig
    from strangler.core.config import load_config

    load_config(text, PipelineConfig, name=str(path), environ={**os.environ, variable: "x"})


@click.command("init")
@click.argument("database_url")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pipeline.yaml"), show_default=True, help="The pipeline file to write.",
)  # fmt: skip
@click.option("--name", help="Pipeline and source name [default: the database's name].")
@click.option("--prefix", help="Topic prefix [default: the name].")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def init_command(
    database_url: str, output: Path, name: str | None, prefix: str | None, force: bool
) -> None:
    """Inspect DATABASE_URL (postgresql://... or mysql://...) and write a commented pipeline.

    The password in the URL is not written: the file reads it from an environment variable
    that it names. Exit codes: 2 bad URL, options or existing file, 3 database unreachable.
    """
    db = parse_url(database_url)
    if output.exists() and not force:
        raise ConfigError(
            f"{output} exists; not overwriting it", fix="pass --force, or -o another file"
        )
    tables = inspect_database(db)
    if not tables:
        raise ConfigError(
            f"the {db.engine} database {db.database or 'server'} at {db.where} has no tables",
            fix="create the tables first, or point the URL at the legacy database",
        )
    source = _name_from(name or db.database or db.engine)
    text = render_pipeline(db, tables, source, prefix or source, source)
    check_rendered(text, output, password_variable(source))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    keyless = sum(1 for t in tables if not t.key)
    click.echo(f"wrote {output}: {len(tables)} table(s), {keyless} without a primary key")
    if db.password:
        click.echo(f"export {password_variable(source)}=... before running it")
