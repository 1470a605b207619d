"""``strangler registry``: run the Confluent-compatible schema registry."""

from __future__ import annotations

import os
from pathlib import Path

import click

from strangler.cli.logsetup import configure


@click.group()
def registry() -> None:
    """The schema registry: Confluent's REST API and wire format, Avro schemas."""


def _users(pairs: tuple[str, ...]) -> dict[str, str]:
    users: dict[str, str] = {}
    for pair in pairs:
        name, sep, password = pair.partition(":")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not name:password", param_hint="--user")
        users[name] = password
    return users


@registry.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=int, help="TCP port.")
@click.option(
    "--storage",
    type=click.Choice(["sqlite", "kafka"]),
    default="sqlite",
    show_default=True,
    help="sqlite: a local file (one machine). kafka: the shared _schemas topic.",
)
@click.option(
    "--sqlite-path", type=click.Path(path_type=Path), default=Path("schemas.db"), show_default=True
)
@click.option(
    "--kafka-bootstrap",
    default="127.0.0.1:29092",
    show_default=True,
    help="Brokers (kafka storage).",
)
@click.option("--topic", default="_schemas", show_default=True, help="Log topic (kafka storage).")
@click.option(
    "--group-id",
    default="strangler-schema-registry",
    show_default=True,
    help="Writer-election group of the instances sharing --topic (kafka storage).",
)
@click.option(
    "--advertised-url", help="URL other instances forward writes to [http(s)://host:port]."
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME:PASSWORD",
    help="Enable HTTP basic auth for this user (repeatable); env STRANGLER_REGISTRY_USERS=a:b,c:d.",
)
@click.option(
    "--tls-cert", type=click.Path(exists=True, path_type=Path), help="PEM certificate: serve HTTPS."
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, path_type=Path),
    help="PEM private key for --tls-cert.",
)
@click.option(
    "--incompatible-error-code",
    type=click.Choice(["409", "40901"]),
    default="409",
    show_default=True,
    help="error_code for incompatible schemas: 409 (CP <= 8.1) or 40901 (CP >= 8.2).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One JSON line per request.",
)
def serve(
    host: str,
    port: int,
    storage: str,
    sqlite_path: Path,
    kafka_bootstrap: str,
    topic: str,
    group_id: str,
    advertised_url: str | None,
    users: tuple[str, ...],
    tls_cert: Path | None,
    tls_key: Path | None,
    incompatible_error_code: str,
    access_log: bool,
) -> None:
    """Serve the registry until interrupted (/health, /metrics, /openapi.json included)."""
    import logging

    from strangler.schema_registry.config import RegistrySettings, StorageKind
    from strangler.schema_registry.server import serve as run

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    env_users = tuple(u for u in os.environ.get("STRANGLER_REGISTRY_USERS", "").split(",") if u)
    configure(logging.INFO, "%(message)s")
    settings = RegistrySettings(
        host=host,
        port=port,
        storage=StorageKind(storage),
        sqlite_path=sqlite_path,
        kafka_bootstrap=kafka_bootstrap,
        topic=topic,
        group_id=group_id,
        advertised_url=advertised_url,
        users=_users(users + env_users),
        tls_cert=tls_cert,
        tls_key=tls_key,
        incompatible_error_code=int(incompatible_error_code),
        access_log=access_log,
    )
    click.echo(
        f"schema registry on {settings.scheme}://{host}:{port} ({storage} storage)", err=True
    )
    run(settings)
