"""Wiring for `strangler materialize`: open each view's target, run one runner per view (a
thread each), stop them all gracefully on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from strangler.materializers.config import MaterializeConfig, ViewConfig
from strangler.materializers.errors import MaterializerError
from strangler.materializers.runner import ViewRunner
from strangler.materializers.schemas import RegistrySchemas, SchemaSource
from strangler.materializers.target import Target

log = logging.getLogger(__name__)


def open_target(view: ViewConfig) -> Target:
    """The view's database, bookkeeping tables created."""
    if view.target.sqlite is not None:
        from strangler.materializers.sqlite_target import SqliteTarget

        lite = view.target.sqlite
        return SqliteTarget(lite.path, lite.synchronous, lite.cache_mib)
    assert view.target.postgres is not None  # the config model checks exactly one is given
    from strangler.materializers.postgres_target import PostgresTarget

    pg = view.target.postgres
    return PostgresTarget(pg.dsn.get_secret_value(), pg.db_schema)


def select_views(config: MaterializeConfig, names: Sequence[str]) -> list[ViewConfig]:
    """The named views (all when none are named); an unknown name is an error."""
    known = {v.name: v for v in config.views}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise MaterializerError(f"no view named {unknown}", fix=f"views: {sorted(known)}")
    return [known[n] for n in names] if names else list(config.views)


def run(
    config: MaterializeConfig,
    names: Sequence[str] = (),
    schemas: SchemaSource | None = None,
    idle_exit_s: float | None = None,
    stop: threading.Event | None = None,
    started: Callable[[list[ViewRunner]], None] | None = None,
) -> None:
    """Run the views until a signal (or idleness) stops them; re-raise a view's failure.

    With ``stop`` (``strangler run``) no signal handler is installed: setting the event stops
    the views; ``started`` is handed the runners once they exist (metrics read them)."""
    source = schemas or RegistrySchemas(config.registry_url)
    runners = [
        ViewRunner(v, config.kafka, source, open_target(v)) for v in select_views(config, names)
    ]
    failures: list[BaseException] = []

    def stop_all(signum: int = 0, frame: FrameType | None = None) -> None:
        for runner in runners:
            runner.stop()

    if started is not None:
        started(runners)
    if stop is not None:

        def stop_when_set() -> None:
            stop.wait()
            stop_all()

        threading.Thread(target=stop_when_set, daemon=True).start()
    elif threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop_all)
        signal.signal(signal.SIGINT, stop_all)
    threads = [
        threading.Thread(target=_guarded, args=(r, idle_exit_s, failures, runners), daemon=True)
        for r in runners
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def rebuild(config: MaterializeConfig, name: str, schemas: SchemaSource | None = None) -> None:
    """Rebuild one view from the beginning of its topics and swap it in atomically."""
    from strangler.materializers.rebuild import Rebuild

    (view,) = select_views(config, [name])
    target = open_target(view)
    try:
        Rebuild(view, config.kafka, schemas or RegistrySchemas(config.registry_url), target).run()
    finally:
        target.close()


def _guarded(
    runner: ViewRunner,
    idle_exit_s: float | None,
    failures: list[BaseException],
    runners: list[ViewRunner],
) -> None:
    try:
        runner.run(idle_exit_s)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises
        log.error("view %s stopped: %s", runner.view.name, exc)
        failures.append(exc)
        for other in runners:
            other.stop()
    finally:
        runner.applier.target.close()
