"""``strangler run FILE``: the pipeline's connectors and materializers in one process.

Every source runs as ``strangler connect`` runs it and every view as ``strangler materialize``
does, each in threads of their own, until SIGTERM or SIGINT: then the connectors flush and
confirm their positions and the views commit their last batch, and the command exits 0. If
one part fails, everything stops and the command exits with that failure's code. A Prometheus
endpoint (``/metrics``, see ``run_metrics``) serves what the parts track.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from strangler.cli.run_metrics import DEFAULT_PORT

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.cli.run_metrics import RunningParts

log = logging.getLogger("strangler.cli.run")


@click.command("run")
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
    help="Port of the Prometheus /metrics endpoint; 0 turns it off.",
)  # fmt: skip
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Its address.")
@click.option(
    "--idle-exit", type=float, default=None, metavar="SECONDS",
    help="Stop (gracefully) once the views saw no new record for this long (for scripts).",
)  # fmt: skip
def run_command(
    pipeline: Path, metrics_port: int, metrics_host: str, idle_exit: float | None
) -> None:
    """Run the sources and the views of PIPELINE together until SIGTERM/SIGINT."""
    from strangler.cli.config import load_pipeline
    from strangler.cli.connect import _install_signals
    from strangler.cli.logsetup import configure
    from strangler.cli.run_metrics import RunningParts, serve_metrics
    from strangler.core.errors import ConfigError

    configure(logging.INFO)
    config = load_pipeline(pipeline)
    if not config.sources and not config.views:
        raise ConfigError(
            f"{pipeline} has neither `sources:` nor `views:`", fix="declare at least one of them"
        )
    stop = threading.Event()
    _install_signals(stop)
    parts = RunningParts()
    server = serve_metrics(parts, metrics_host, metrics_port) if metrics_port else None
    try:
        _run_parts(_parts(config, stop, parts, idle_exit), stop)
    finally:
        if server is not None:
            server.shutdown()
    log.info("stopped")


def _parts(
    config: PipelineConfig, stop: threading.Event, parts: RunningParts, idle_exit: float | None
) -> dict[str, Callable[[], None]]:
    """The pipeline's two halves as callables that return once ``stop`` is set."""
    from strangler.cli.connect import run_sources
    from strangler.materializers import service

    halves: dict[str, Callable[[], None]] = {}
    if config.sources:
        sources = list(config.sources)
        halves["sources"] = lambda: run_sources(config, sources, stop, parts.add_connector)
    if config.views:
        views = config.materialize_config()

        def materialize() -> None:
            # each view waits for its topics (the connectors create them as they start)
            service.run(views, idle_exit_s=idle_exit, stop=stop, started=parts.add_runners)
            if idle_exit is not None:
                stop.set()  # the views went idle: the whole pipeline stops

        halves["views"] = materialize
    return halves


def _run_parts(halves: dict[str, Callable[[], None]], stop: threading.Event) -> None:
    """Run each half in a thread; the first failure stops the other and is raised."""
    errors: list[BaseException] = []

    def guarded(name: str, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            log.error("%s stopped: %s", name, exc)
            errors.append(exc)
            stop.set()  # one half failing stops the other

    threads = [
        threading.Thread(target=guarded, args=(n, b), name=f"run-{n}") for n, b in halves.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)  # a short join: signal handlers run in the main thread meanwhile
    if errors:
        raise errors[0]
