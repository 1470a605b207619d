"""``strangler dev``: the local stack of real servers on loopback (no Docker)."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from pathlib import Path

import click

from strangler.cli.devstack.settings import resolve
from strangler.cli.devstack.stack import SERVICE_NAMES, Stack
from strangler.cli.output import emit_json, table

services_argument = click.argument("services", nargs=-1, type=click.Choice(SERVICE_NAMES))
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the servers keep their data [env STRANGLER_DEV_DIR; "
    "default /tmp/strangler-dev-<uid>].",
)
@click.option("--pg-port", type=int, default=None, help="PostgreSQL port [25432].")
@click.option("--mysql-port", type=int, default=None, help="MariaDB port [23306].")
@click.option("--kafka-port", type=int, default=None, help="Kafka broker port [29092].")
@click.option(
    "--kafka-controller-port", type=int, default=None, help="Kafka controller port [29093]."
)
@click.option("--registry-port", type=int, default=None, help="Schema registry port [28081].")
@click.pass_context
def dev(
    ctx: click.Context,
    data_dir: Path | None,
    pg_port: int | None,
    mysql_port: int | None,
    kafka_port: int | None,
    kafka_controller_port: int | None,
    registry_port: int | None,
) -> None:
    """Run PostgreSQL, MariaDB, Kafka and the schema registry locally (no Docker)."""
    ctx.obj = Stack(
        resolve(
            base_dir=data_dir,
            pg_port=pg_port,
            mysql_port=mysql_port,
            kafka_port=kafka_port,
            kafka_controller_port=kafka_controller_port,
            registry_port=registry_port,
        )
    )


@dev.command()
@services_argument
@click.pass_obj
def prepare(stack: Stack, services: tuple[str, ...]) -> None:
    """Check prerequisites and fetch Kafka's jars, without starting anything."""
    stack.prepare(services)
    click.echo("prerequisites present; Kafka jars cached")


@dev.command()
@services_argument
@click.pass_obj
def up(stack: Stack, services: tuple[str, ...]) -> None:
    """Start the services that are not running (all of them by default)."""
    for result in stack.up(services, report=lambda m: click.echo(m, err=True)):
        what = f"started in {result.seconds:.1f} s" if result.started else "already running"
        click.echo(f"{result.name:8} {what}")
    click.echo(f"data in {stack.settings.base_dir}; `strangler dev env` prints the endpoints")


@dev.command()
@services_argument
@click.pass_obj
def down(stack: Stack, services: tuple[str, ...]) -> None:
    """Stop the services this stack started."""
    stopped = stack.down(services)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@dev.command()
@json_option
@click.pass_obj
def status(stack: Stack, as_json: bool) -> None:
    """Show each service, whether it runs, and its endpoint."""
    rows = [asdict(s) | {"state": "running" if s.running else "stopped"} for s in stack.status()]
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["name", "state", "endpoint", "pid", "log"]))


@dev.command()
@json_option
@click.pass_obj
def env(stack: Stack, as_json: bool) -> None:
    """Print shell exports for the endpoints: eval "$(strangler dev env)"."""
    values = stack.env()
    if as_json:
        emit_json(values)
        return
    for name, value in values.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@dev.command()
@json_option
@click.pass_obj
def smoke(stack: Stack, as_json: bool) -> None:
    """Prove the running stack works end to end: a replication slot sees a change in
    PostgreSQL, the binlog shows a row from MariaDB, and Kafka returns what was produced."""
    from strangler.cli.devstack.smoke import run_smoke

    results = run_smoke(stack.env())
    if as_json:
        emit_json([asdict(r) for r in results])
    else:
        click.echo(table([asdict(r) for r in results], ["check", "ok", "detail"]))
    if not all(r.ok for r in results):
        raise SystemExit(1)
