"""``strangler connect PIPELINE.yaml``: run the pipeline's source connectors.

Each source runs in a thread of its own until SIGTERM or SIGINT; then every connector flushes
its producer, confirms the position Kafka acknowledged, and ends replication. ``--teardown``
drops the sources' slots and publications instead; ``--check`` runs preflight only.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from strangler.cli.logsetup import configure
from strangler.core.errors import ConfigError, StranglerError

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource

    AnySource = PostgresSource | MysqlSource


def _select(pipeline: PipelineConfig, only: tuple[str, ...]) -> list[AnySource]:
    if not pipeline.sources:
        raise ConfigError(
            "the pipeline has no `sources:` section",
            fix="declare the databases to capture under `sources:`",
        )
    sources = [s for s in pipeline.sources if not only or s.name in only]
    unknown = set(only) - {s.name for s in pipeline.sources}
    if unknown:
        raise ConfigError(
            f"no source named {', '.join(sorted(unknown))}",
            fix=f"use one of: {', '.join(s.name for s in pipeline.sources)}",
        )
    return sources


def _registry_url(pipeline: PipelineConfig) -> str:
    assert pipeline.registry is not None  # the pipeline model requires it when there are sources
    return pipeline.registry.url


def run_sources(
    pipeline: PipelineConfig,
    sources: list[AnySource],
    stop: threading.Event,
    started: Callable[[Any], None] | None = None,
) -> None:
    """Run ``sources`` until ``stop`` is set or one fails (then all stop; the error is raised).
    ``started`` is handed each connector object as it is made (``strangler run``'s metrics)."""
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.mysql.connector import run_mysql_source
    from strangler.connectors.postgres.connector import PostgresConnector
    from strangler.connectors.postgres.registrar import HttpRegistrar

    errors: list[BaseException] = []
    url = _registry_url(pipeline)

    def run(source: AnySource) -> None:
        try:
            if isinstance(source, MysqlSource):
                run_mysql_source(source, pipeline.kafka, url, stop, started)
            else:
                connector = PostgresConnector(source, pipeline.kafka, HttpRegistrar(url), stop)
                if started is not None:
                    started(connector)
                connector.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=run, args=(s,), name=s.name) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    if errors:
        raise errors[0]


def _install_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("strangler.cli").info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


@click.command("connect")
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "only", multiple=True, help="Run only this source (repeatable).")
@click.option("--check", is_flag=True, help="Run preflight only and print the findings.")
@click.option("--teardown", is_flag=True, help="Drop the sources' slots and publications.")
@click.option("--log-level", default="INFO", show_default=True, help="Logging level.")
def connect(
    pipeline: Path, only: tuple[str, ...], check: bool, teardown: bool, log_level: str
) -> None:
    """Capture the pipeline's source databases into their table topics."""
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise click.BadParameter(f"{log_level!r} is not a logging level", param_hint="--log-level")
    configure(level, "%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s")
    from strangler.cli.config import load_pipeline

    config = load_pipeline(pipeline)
    sources = _select(config, only)
    if teardown or check:
        _operate(config, sources, teardown=teardown)
        return
    stop = threading.Event()
    _install_signals(stop)
    run_sources(config, sources, stop)


def _operate(config: PipelineConfig, sources: list[AnySource], *, teardown: bool) -> None:
    from strangler.cli.teardown_cmd import drop_source_state
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.mysql.connector import MysqlConnector
    from strangler.connectors.postgres.connector import PostgresConnector
    from strangler.connectors.postgres.connector import connect as pg_connect
    from strangler.connectors.postgres.registrar import HttpRegistrar

    for source in sources:
        if teardown:
            dropped = drop_source_state(config, source)
            click.echo(f"{source.name}: dropped {', '.join(dropped) or 'nothing'}")
            continue
        registrar = HttpRegistrar(_registry_url(config))
        if isinstance(source, MysqlSource):
            captured = MysqlConnector(source, config.kafka, registrar).preflight_only()
            click.echo(f"{source.name}: preflight passed; {len(captured)} table(s) captured")
            continue
        connector = PostgresConnector(source, config.kafka, registrar)
        with pg_connect(source.dsn.get_secret_value()) as conn:
            tables = connector.check(conn)
        click.echo(f"{source.name}: preflight passed; {len(tables)} table(s) captured")


def main() -> None:
    """``python -m strangler.cli.connect``: the command with strangler's exit codes."""
    try:
        connect.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except StranglerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
