"""``strangler status FILE [--json]``: where every source, table and view of a pipeline stands.

Read from outside (``positions``), so it works the same while ``strangler run`` runs and after
it stopped. Per source: stream position, WAL/binlog bytes behind, seconds behind (now minus the
commit time of the newest event in its topics, 0 when caught up). Per table: initial snapshot
state, incremental snapshot requests, the topic's end offset and last event time. Per view: the
offsets stored with its rows against the topics' end offsets.

A service that does not answer is a row marked ``unreachable`` with its fix, never a crash.
Exit codes: 0 when everything answered, 3 when some service was unreachable (the report is
still printed), 2 for a bad pipeline file.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.cli.positions import SourcePosition, TopicEnd
    from strangler.core.errors import StranglerError

UNREACHABLE = "unreachable"


@click.command("status")
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document for scripts.")
@click.pass_context
def status_command(ctx: click.Context, pipeline: Path, as_json: bool) -> None:
    """Snapshot state, positions, lag and end offsets of every source, table and view.

    Works while `strangler run` runs and after it stopped. Exit 0 when every service answered,
    3 when one did not (its row says unreachable, with the fix; the rest is still shown)."""
    from strangler.cli.config import load_pipeline
    from strangler.cli.output import emit_json

    report = Report(load_pipeline(pipeline)).collect()
    if as_json:
        emit_json(report)
    else:
        click.echo(render(report))
    if report["unreachable"]:
        ctx.exit(3)


class Report:
    """Collects the status document of one pipeline."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.unreachable: list[dict[str, Any]] = []
        self.topics: dict[str, tuple[str, Any]] = {}
        """Topic → (source name, table) for the sources' tables."""

    def collect(self) -> dict[str, Any]:
        positions = {s.name: self._position(s) for s in self.config.sources}
        view_topics = [t.topic for v in self.config.views for t in v.topics]
        ends = self._ends([*self.topics, *view_topics])
        return {
            "pipeline": self.config.name,
            "sources": [self._source_row(s, positions[s.name], ends) for s in self.config.sources],
            "tables": [self._table_row(t, positions, ends) for t in self.topics],
            "views": [row for v in self.config.views for row in self._view_rows(v, ends)],
            "unreachable": self.unreachable,
        }

    def _problem(self, service: str, exc: StranglerError) -> dict[str, Any]:
        entry = {"service": service, "error": exc.message, "fix": exc.fix}
        self.unreachable.append(entry)
        return entry

    def _position(self, source: Any) -> SourcePosition | None:
        from strangler.cli.positions import source_position
        from strangler.connectors.topics import table_topic
        from strangler.core.errors import StranglerError

        try:
            position = source_position(source, self.config.kafka, full=True)
        except StranglerError as exc:
            self._problem(f"source {source.name}", exc)
            return None
        for table in position.snapshot:
            self.topics[table_topic(source.topic_prefix, table)] = (source.name, table)
        return position

    def _ends(self, topics: list[str]) -> dict[str, TopicEnd] | None:
        from strangler.cli.positions import topic_ends
        from strangler.core.errors import StranglerError

        try:
            return topic_ends(self.config.kafka, sorted(set(topics)))
        except StranglerError as exc:
            self._problem("kafka", exc)
            return None

    def _source_row(
        self, source: Any, position: SourcePosition | None, ends: dict[str, TopicEnd] | None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"source": source.name, "type": source.type}
        if position is None:
            problem = next(p for p in self.unreachable if p["service"] == f"source {source.name}")
            return {**row, "state": UNREACHABLE, "fix": problem["fix"], "error": problem["error"]}
        state = "not started" if position.position is None else "stopped"
        if position.active:
            state = "streaming"
        newest = _newest(ends, [t for t, (s, _) in self.topics.items() if s == source.name])
        lag_s = None
        if position.lag_bytes == 0:
            lag_s = 0.0
        elif position.lag_bytes is not None and newest is not None:
            lag_s = round(max(time.time() - newest / 1e6, 0.0), 3)
        return {
            **row, "state": state, "position": position.position, "restart_lsn": position.restart,
            "lag_bytes": position.lag_bytes, "lag_seconds": lag_s,
            "retained_wal_bytes": position.retained_bytes,
        }  # fmt: skip

    def _table_row(
        self,
        topic: str,
        positions: dict[str, SourcePosition | None],
        ends: dict[str, TopicEnd] | None,
    ) -> dict[str, Any]:
        source, table = self.topics[topic]
        position = positions[source]
        assert position is not None  # only reachable sources named their tables
        row: dict[str, Any] = {
            "source": source, "table": str(table), "topic": topic,
            "snapshot": position.snapshot.get(table),
            "resnapshot": position.resnapshot.get(table),
        }  # fmt: skip
        return {**row, **_end_columns(ends, topic)}

    def _view_rows(self, view: Any, ends: dict[str, TopicEnd] | None) -> list[dict[str, Any]]:
        from strangler.cli.positions import behind, view_offsets
        from strangler.core.errors import StranglerError

        try:
            offsets = view_offsets(view)
        except StranglerError as exc:
            problem = self._problem(f"view {view.name}", exc)
            return [{"view": view.name, "state": UNREACHABLE, "fix": problem["fix"]}]
        stored = (
            None if offsets is None else {(o.topic, o.partition): o.next_offset for o in offsets}
        )
        rows = []
        for spec in view.topics:
            row: dict[str, Any] = {"view": view.name, "topic": spec.topic}
            applied = {p: o for (t, p), o in (stored or {}).items() if t == spec.topic}
            row["state"] = "not started" if stored is None else "ok"
            row["applied_offsets"] = applied
            if ends is None:
                row.update(state=UNREACHABLE, fix="Kafka did not answer: see UNREACHABLE")
            else:
                row["lag_records"] = behind(stored, spec.topic, ends[spec.topic])
                row.update(_end_columns(ends, spec.topic))
            rows.append(row)
        return rows


def _end_columns(ends: dict[str, TopicEnd] | None, topic: str) -> dict[str, Any]:
    if ends is None:
        return {"end_offsets": UNREACHABLE}
    end = ends[topic]
    if not end.exists:
        return {"end_offsets": "no topic"}
    return {
        "end_offsets": end.ends,
        "records": sum(end.ends.values()),
        "last_event": _time(end.last_commit_us),
    }


def _newest(ends: dict[str, TopicEnd] | None, topics: list[str]) -> int | None:
    stamps = [ends[t].last_commit_us for t in topics if ends and t in ends]
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


def _time(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="milliseconds")


def render(report: dict[str, Any]) -> str:
    """The report as readable tables (sources, tables, views, unreachable services)."""
    from strangler.cli.output import table

    parts = [f"pipeline {report['pipeline']}"]
    sections = [
        ("sources", ["source", "type", "state", "position", "restart_lsn", "lag_bytes",
                     "lag_seconds", "fix"]),
        ("tables", ["source", "table", "snapshot", "resnapshot", "topic", "records",
                    "last_event"]),
        ("views", ["view", "topic", "state", "lag_records", "records", "last_event", "fix"]),
        ("unreachable", ["service", "error", "fix"]),
    ]  # fmt: skip
    for name, columns in sections:
        rows = report[name]
        if rows:
            used = [c for c in columns if any(r.get(c) is not None for r in rows)]
            parts.append(f"\n{name.upper()}\n{table(rows, used)}")
    return "\n".join(parts)
