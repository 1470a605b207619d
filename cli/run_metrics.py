"""The Prometheus endpoint of ``strangler run``: what the running parts already track, read at
scrape time (nothing is counted twice).

- sources: events, transactions and snapshot rows published (``ConnectorMetrics``), the age of
  the oldest transaction Kafka has not acknowledged, whether streaming runs; PostgreSQL also the
  confirmed LSN and the slot's lag and retained WAL in bytes (asked of the server per scrape);
- views: records applied, and per partition the records and seconds behind (``ViewRunner.lag``);
- ``strangler_up`` 1 while the process serves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from strangler.core.errors import ServiceUnavailable, StranglerError
from strangler.materializers.runner import ViewRunner

log = logging.getLogger("strangler.cli.run")
DEFAULT_PORT = 9464
"""The OpenTelemetry Prometheus exporter's port, the usual one for an application's metrics."""


class RunningParts:
    """The connectors and view runners of one ``strangler run``, as they start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connectors: list[Any] = []
        self.runners: list[ViewRunner] = []

    def add_connector(self, connector: Any) -> None:
        with self._lock:
            self.connectors.append(connector)

    def add_runners(self, runners: list[ViewRunner]) -> None:
        with self._lock:
            self.runners.extend(runners)


class PipelineCollector(Collector):
    """Reads ``RunningParts`` at every scrape."""

    def __init__(self, parts: RunningParts) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("strangler_up", "1 while strangler run serves")
        up.add_metric([], 1)
        yield up
        yield from self._sources()
        yield from self._views()

    def _sources(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "strangler_source_events", "Change events published", labels=["source"]
        )
        txs = CounterMetricFamily(
            "strangler_source_transactions", "Source transactions published", labels=["source"]
        )
        rows = CounterMetricFamily(
            "strangler_source_snapshot_rows", "Snapshot rows published", labels=["source"]
        )
        unacked = GaugeMetricFamily(
            "strangler_source_unacknowledged_seconds",
            "Age of the oldest published transaction Kafka has not acknowledged",
            labels=["source"],
        )
        streaming = GaugeMetricFamily(
            "strangler_source_streaming", "1 once the snapshot is done and streaming runs",
            labels=["source"],
        )  # fmt: skip
        positions = _PgPositions()
        for connector in list(self._parts.connectors):
            name = connector.source.name
            figures = connector.metrics
            events.add_metric([name], figures.events)
            txs.add_metric([name], figures.transactions)
            rows.add_metric([name], figures.snapshot_rows)
            unacked.add_metric([name], figures.lag_seconds())
            flag = getattr(connector, "streaming", None)
            if flag is not None:
                streaming.add_metric([name], 1 if flag.is_set() else 0)
            positions.add(connector)
        yield from (events, txs, rows, unacked, streaming)
        yield from positions.families()

    def _views(self) -> Iterator[Metric]:
        applied = CounterMetricFamily(
            "strangler_view_applied_records", "Records applied to the view", labels=["view"]
        )
        behind = GaugeMetricFamily(
            "strangler_view_lag_records", "Records between the view and the end of a partition",
            labels=["view", "topic", "partition"],
        )  # fmt: skip
        seconds = GaugeMetricFamily(
            "strangler_view_lag_seconds",
            "Now minus the source commit time of the last record applied from a partition",
            labels=["view", "topic", "partition"],
        )
        for runner in list(self._parts.runners):
            name = runner.view.name
            applied.add_metric([name], runner.applied_records)
            for (topic, partition), lag in sorted(runner.lag().items()):
                labels = [name, topic, str(partition)]
                behind.add_metric(labels, lag.records)
                if lag.seconds is not None:
                    seconds.add_metric(labels, lag.seconds)
        yield from (applied, behind, seconds)


class _PgPositions:
    """The PostgreSQL sources' confirmed LSN and slot lag (one short query per source)."""

    def __init__(self) -> None:
        labels = ["source"]
        self.confirmed = GaugeMetricFamily(
            "strangler_source_confirmed_lsn", "Slot position confirmed (LSN as a number)",
            labels=labels,
        )  # fmt: skip
        self.lag = GaugeMetricFamily(
            "strangler_source_lag_bytes", "WAL written after the confirmed position", labels=labels
        )  # fmt: skip
        self.retained = GaugeMetricFamily(
            "strangler_source_retained_wal_bytes", "WAL the slot keeps from recycling",
            labels=labels,
        )  # fmt: skip

    def add(self, connector: Any) -> None:
        import psycopg

        from strangler.connectors.postgres.connector import PostgresConnector, connect
        from strangler.connectors.postgres.metrics import slot_lag

        if not isinstance(connector, PostgresConnector):
            return
        name = connector.source.name
        if connector.metrics.confirmed is not None:
            self.confirmed.add_metric([name], connector.metrics.confirmed.value)
        try:
            with connect(connector.source.dsn.get_secret_value(), connect_timeout=2) as conn:
                figures = slot_lag(conn, connector.source.slot)
        except (StranglerError, psycopg.Error) as exc:
            log.warning("metrics: slot lag of %s unknown: %s", name, exc)
            return
        if figures["lag_bytes"] is not None:
            self.lag.add_metric([name], figures["lag_bytes"])
        if figures["retained_wal_bytes"] is not None:
            self.retained.add_metric([name], figures["retained_wal_bytes"])

    def families(self) -> Iterator[Metric]:
        yield from (self.confirmed, self.lag, self.retained)


def serve_metrics(parts: RunningParts, host: str, port: int) -> Any:
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; the server (``shutdown()``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(parts))
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
            fix="choose another --metrics-port (0 turns the endpoint off)",
        ) from exc
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
