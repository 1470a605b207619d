"""The product-catalogue playbook, run end to end on the dev stack (README.md tells the story).

    .venv/bin/strangler dev up
    .venv/bin/python examples/product-catalogue/demo.py

Steps: create the legacy shop and the orders service's database, start the pipeline, keep the
shop busy while printing what flows (events, view rows, view lag, shadow reads), verify the
view against the shop, compare every product, cut order writes over to the orders service
(its outbox reaches the monolith), retire the old path, clean up.

Endpoints come from STRANGLER_PG_DSN, STRANGLER_KAFKA_BOOTSTRAP and STRANGLER_REGISTRY_URL
(``eval "$(strangler dev env)"``), else the dev stack's defaults. ``--run-id`` gives the run
databases, slots, topics and views of its own, so runs can share one stack.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from psycopg import sql
from psycopg.conninfo import make_conninfo

from strangler.core.kafka import KafkaSettings, base_config, consumer_config

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the example's own modules, beside this file

from orders_service import (  # noqa: E402
    CatalogueView,
    LegacyCatalogue,
    OrdersService,
    ShadowReport,
    create_schema,
    shadow_read,
    shadow_read_all,
)
from shopdata import Churn, ShopSize, load  # noqa: E402

PIPELINE = HERE / "pipeline.yaml"
CUTOVER_SQL = HERE / "cutover.sql"
ALL_ORDERS_SQL = HERE / "all_orders.sql"
CATALOGUE_TABLES = ("products", "categories", "inventory")
ENDPOINT_VARIABLES = ("STRANGLER_PG_DSN", "STRANGLER_KAFKA_BOOTSTRAP", "STRANGLER_REGISTRY_URL")


class DemoFailed(Exception):
    """A step did not reach its expected outcome; the message says which and why."""


@dataclass(frozen=True)
class Endpoints:
    pg_dsn: str
    kafka: str
    registry: str

    @classmethod
    def from_env(cls) -> Endpoints:
        """The STRANGLER_* variables; those not set, from `strangler dev env` (its ports)."""
        env: dict[str, str] = dict(os.environ)
        if not all(k in env for k in ENDPOINT_VARIABLES):
            dev = subprocess.run(
                [strangler_exe(), "dev", "env", "--json"],
                capture_output=True,
                text=True,
                check=False,
            )
            env = {**(json.loads(dev.stdout) if dev.returncode == 0 else {}), **env}
        missing = [k for k in ENDPOINT_VARIABLES if k not in env]
        if missing:
            raise DemoFailed(
                f"no endpoint for {', '.join(missing)}\n"
                '  fix: start the dev stack (`strangler dev up`) or eval "$(strangler dev env)"'
            )
        return cls(*(env[k] for k in ENDPOINT_VARIABLES))


@dataclass(frozen=True)
class Names:
    """Databases, slots, topics and views of one run (suffixed by the run id, if any)."""

    run_id: str

    def _n(self, base: str, sep: str = "_") -> str:
        return f"{base}{sep}{self.run_id}" if self.run_id else base

    @property
    def label(self) -> str:
        return self._n("product-catalogue", "-")

    @property
    def shop_db(self) -> str:
        return self._n("legacy_shop")

    @property
    def orders_db(self) -> str:
        return self._n("orders_service")

    @property
    def shop_prefix(self) -> str:
        return self._n("legacy_shop")

    @property
    def orders_prefix(self) -> str:
        return self._n("orders_service")

    @property
    def slots(self) -> tuple[str, str]:
        return self._n("legacy_shop_catalogue"), self._n("orders_service_outbox")

    @property
    def catalogue_view(self) -> str:
        return self._n("orders_service_catalogue")

    @property
    def feed_view(self) -> str:
        return self._n("legacy_shop_order_feed")

    def products_topic(self) -> str:
        return f"{self.shop_prefix}.public.products"

    def catalogue_topics(self) -> list[str]:
        return [f"{self.shop_prefix}.public.{t}" for t in CATALOGUE_TABLES]

    def outbox_topic(self) -> str:
        return f"{self.orders_prefix}.public.outbox"


@dataclass
class Summary:
    """The outcome, also written as JSON with ``--summary`` (the e2e test reads it)."""

    loaded: dict[str, int] = field(default_factory=dict)
    snapshot_s: float = 0.0
    load_changes: dict[str, int] = field(default_factory=dict)
    events: int = 0
    probe_ms: list[float] = field(default_factory=list)
    shadow_sampled: int = 0
    shadow_lag_differences: int = 0
    shadow_persistent_differences: int = 0
    verify_passed: bool = False
    verify_output: str = ""
    full_compare_products: int = 0
    full_compare_differences: int = 0
    outbox_orders: list[int] = field(default_factory=list)
    outbox_orders_in_feed: int = 0
    legacy_write_refused: str = ""
    duration_s: float = 0.0


class LoadGenerator:
    """The shop's load generator (``shopdata.Churn``) in a thread, started and stopped."""

    def __init__(self, dsn: str, rate: float) -> None:
        self.dsn, self.rate = dsn, rate
        self._churn: Churn | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def churn(self) -> Churn:
        if self._churn is None:
            self._churn = Churn(self.dsn)
        return self._churn

    @property
    def changes(self) -> int:
        return sum(self.churn.counts.values())

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.churn.run, args=(self.rate, self._stop), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self.stop()
        if self._churn is not None:
            self._churn.close()


class Demo:
    def __init__(self, endpoints: Endpoints, names: Names, work: Path, args: argparse.Namespace):
        self.endpoints, self.names, self.work, self.args = endpoints, names, work, args
        self.shop_dsn = make_conninfo(endpoints.pg_dsn, dbname=names.shop_db)
        self.orders_dsn = make_conninfo(endpoints.pg_dsn, dbname=names.orders_db)
        self.view_path = work / "orders-service" / "catalogue.db"
        self.kafka = KafkaSettings(bootstrap_servers=endpoints.kafka)
        self.summary = Summary()
        self.rng = random.Random(11)
        self.load = LoadGenerator(self.shop_dsn, args.rate)
        self._watermarks: Consumer | None = None
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.started = self.pipeline_started = time.monotonic()

    # -- narration -----------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", flush=True)

    def step(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    # -- environment for the strangler commands ------------------------------------------------

    def env(self) -> dict[str, str]:
        n = self.names
        return {
            **os.environ,
            "STRANGLER_KAFKA_BOOTSTRAP": self.endpoints.kafka,
            "STRANGLER_REGISTRY_URL": self.endpoints.registry,
            "SHOP_PG_DSN": self.shop_dsn,
            "ORDERS_PG_DSN": self.orders_dsn,
            "SHOP_SLOT": n.slots[0],
            "SHOP_PUBLICATION": n.slots[0],
            "ORDERS_SLOT": n.slots[1],
            "ORDERS_PUBLICATION": n.slots[1],
            "SHOP_TOPIC_PREFIX": n.shop_prefix,
            "ORDERS_TOPIC_PREFIX": n.orders_prefix,
            "SHOP_STATE_DIR": str(self.work / "state"),
            "CATALOGUE_VIEW": n.catalogue_view,
            "CATALOGUE_VIEW_PATH": str(self.view_path),
            "ORDER_FEED_VIEW": n.feed_view,
        }

    def strangler(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [strangler_exe(), *args], env=self.env(), cwd=self.work,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    # -- set-up: a clean slate -----------------------------------------------------------------

    def check_stack(self) -> None:
        try:
            with psycopg.connect(self.endpoints.pg_dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            raise DemoFailed(
                f"PostgreSQL at {self.endpoints.pg_dsn} does not answer ({exc})\n"
                "  fix: start the dev stack with `.venv/bin/strangler dev up`"
            ) from None
        try:
            AdminClient({**base_config(self.kafka), "log_level": 0}).list_topics(timeout=5)
        except KafkaException:
            raise DemoFailed(
                f"Kafka at {self.endpoints.kafka} does not answer\n"
                "  fix: start the dev stack with `.venv/bin/strangler dev up`"
            ) from None

    def reset(self) -> None:
        """Drop what an earlier run with the same names left: databases, slots, topics."""
        with psycopg.connect(self.endpoints.pg_dsn, autocommit=True) as conn:
            for db in (self.names.shop_db, self.names.orders_db):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [db],
                )
            for slot in self.names.slots:
                _drop_slot(conn, slot)
            for db in (self.names.shop_db, self.names.orders_db):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
                )
        self.delete_topics()
        shutil.rmtree(self.work, ignore_errors=True)

    def delete_topics(self) -> None:
        admin = AdminClient(base_config(self.kafka))
        prefixes = (self.names.shop_prefix + ".", self.names.orders_prefix + ".")
        ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
        if not ours:
            return
        for future in admin.delete_topics(ours, operation_timeout=10).values():
            future.result()
        deadline = time.monotonic() + 20
        while set(ours) & set(admin.list_topics(timeout=10).topics):
            if time.monotonic() > deadline:
                raise DemoFailed(f"topics {ours} are still being deleted after 20 s")
            time.sleep(0.2)

    # -- set-up: the legacy shop and the new service's database --------------------------------

    def create_databases(self) -> None:
        with psycopg.connect(self.endpoints.pg_dsn, autocommit=True) as conn:
            for db in (self.names.shop_db, self.names.orders_db):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        began = time.monotonic()
        self.summary.loaded = load(self.shop_dsn, ShopSize(products=self.args.products))
        counts = ", ".join(f"{n} {t}" for t, n in self.summary.loaded.items())
        self.say(
            f"shop database {self.names.shop_db!r}: {counts} ({time.monotonic() - began:.1f} s)"
        )
        create_schema(self.orders_dsn)
        self.say(f"orders service database {self.names.orders_db!r}: tables orders, outbox")

    # -- step 1: mirror ------------------------------------------------------------------------

    def start_pipeline(self) -> None:
        (self.work / "state").mkdir(parents=True, exist_ok=True)
        log = (self.work / "run.log").open("wb")
        proc = subprocess.Popen(
            [strangler_exe(), "run", str(PIPELINE), "--metrics-port", "0"],
            env=self.env(), cwd=self.work, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(("run", proc))
        self.pipeline_started = time.monotonic()
        self.say(f"started `strangler run pipeline.yaml` (pid {proc.pid}, log {log.name})")
        self.wait_for("catalogue topics", self.topics_exist, 60)

    def topics_exist(self) -> bool:
        topics = AdminClient(base_config(self.kafka)).list_topics(timeout=5).topics
        return all(t in topics for t in [*self.names.catalogue_topics(), self.names.outbox_topic()])

    def check_procs(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.work / f"{name}.log").read_text(errors="replace")[-3000:]
                raise DemoFailed(f"`strangler {name}` exited with {proc.returncode}:\n{tail}")

    def show(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``strangler ARGS pipeline.yaml ...`` and print what it says, indented."""
        self.say(f"$ strangler {' '.join(args).replace(str(PIPELINE), 'pipeline.yaml')}")
        result = self.strangler(*args, timeout=120)
        for line in (result.stdout + result.stderr).strip().splitlines():
            print(f"          {line}", flush=True)
        return result

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float) -> float:
        began = time.monotonic()
        while not done():
            self.check_procs()
            if time.monotonic() - began > timeout:
                raise DemoFailed(
                    f"{what}: not reached within {timeout:.0f} s (logs in {self.work})"
                )
            time.sleep(0.1)
        return time.monotonic() - began

    def wait_for_snapshot(self) -> None:
        with LegacyCatalogue(self.shop_dsn) as legacy:
            on_sale = len(legacy.all())
        self.say(f"snapshot: waiting for the view to hold the {on_sale} products on sale")
        self.wait_for("snapshot in the view", lambda: self.view_count() >= on_sale, 90)
        took = time.monotonic() - self.pipeline_started
        self.summary.snapshot_s = round(took, 2)
        self.say(
            f"snapshot done: {self.events()} events in Kafka, view has {self.view_count()} rows"
            f" ({took:.1f} s after the pipeline started)"
        )

    # -- figures -------------------------------------------------------------------------------

    def view_count(self) -> int:
        if not self.view_path.exists():
            return 0
        with CatalogueView(self.view_path) as view:
            return view.count()

    def end_offsets(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """Each partition's end offset (a consumer that never joins its group reads them)."""
        if self._watermarks is None:
            group = f"strangler-demo-{self.names.label}"
            self._watermarks = Consumer(consumer_config(self.kafka, group))
        metadata = self._watermarks.list_topics(timeout=5)
        ends = {}
        for topic in topics:
            for p in metadata.topics[topic].partitions if topic in metadata.topics else []:
                ends[(topic, p)] = self._watermarks.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=5, cached=False
                )[1]
        return ends

    def events(self) -> int:
        return sum(self.end_offsets(self.names.catalogue_topics()).values())

    def records_behind(self) -> int:
        """Records in the products topic the catalogue view has not applied yet."""
        ends = self.end_offsets([self.names.products_topic()])
        with closing(sqlite3.connect(f"file:{self.view_path}?mode=ro", uri=True)) as conn:
            try:
                stored = dict(
                    ((t, p), o)
                    for t, p, o in conn.execute(
                        'SELECT topic, "partition", next_offset FROM _strangler_offsets '
                        "WHERE view = ?",
                        [self.names.catalogue_view],
                    )
                )
            except sqlite3.OperationalError:
                stored = {}
        return sum(max(0, end - stored.get(place, 0)) for place, end in ends.items())

    def probe_lag_ms(self) -> float | None:
        """Change one price in the monolith; ms until the orders service's view shows it."""
        with CatalogueView(self.view_path) as view:
            ids = [int(r[0]) for r in view.conn.execute("SELECT id FROM products")]
            pid = self.rng.choice(ids)
            with psycopg.connect(self.shop_dsn, autocommit=True) as conn:
                began = time.monotonic()
                row = conn.execute(
                    "UPDATE products SET price = price + 0.01, updated_at = now() "
                    "WHERE id = %s AND active RETURNING price",
                    [pid],
                ).fetchone()
            if row is None:
                return None
            while time.monotonic() - began < 5:
                seen = view.get_many([pid]).get(pid)
                if seen is not None and seen.price == row[0]:
                    return (time.monotonic() - began) * 1000
                time.sleep(0.005)
        return None

    # -- steps 1 and 3: live load, lag, shadow reads -------------------------------------------

    def live(self, seconds: float, shadow: bool) -> ShadowReport:
        """Run the load generator for ``seconds``, printing a line of figures each second;
        with ``shadow``, the service also serves reads and shadow-reads a sample of them."""
        report = ShadowReport()
        self.load.start()
        try:
            with LegacyCatalogue(self.shop_dsn) as legacy, CatalogueView(self.view_path) as view:
                ids, last_events, began = legacy.ids(), self.events(), time.monotonic()
                while time.monotonic() - began < seconds:
                    time.sleep(max(0.0, 1 - (time.monotonic() - began) % 1))
                    self.check_procs()
                    line, last_events = self.figures(last_events)
                    if shadow:
                        line += self.shadow_tick(view, legacy, ids, report)
                    self.say(line)
        finally:
            self.load.stop()
        return report

    def figures(self, last_events: int) -> tuple[str, int]:
        """One line: changes made, events in Kafka, view rows and backlog, a measured lag."""
        lag = self.probe_lag_ms()
        if lag is not None:
            self.summary.probe_ms.append(round(lag, 1))
        events = self.events()
        seen = f"{lag:4.0f} ms" if lag is not None else "   - ms"
        return (
            f"shop {self.load.changes:5d} changes | kafka {events:6d} events "
            f"(+{events - last_events:4d}) | view {self.view_count():5d} rows, "
            f"{self.records_behind():3d} behind | a price change reached the view in {seen}"
        ), events

    def shadow_tick(
        self, view: CatalogueView, legacy: LegacyCatalogue, ids: Sequence[int], into: ShadowReport
    ) -> str:
        """A second of requests: all served from the view, a sample also from the monolith."""
        requests = [self.rng.choice(ids) for _ in range(self.args.reads)]
        sampled = [i for i in requests if self.rng.random() * 100 < self.args.shadow_percent]
        tick = shadow_read(view, legacy, sampled, recheck_s=0.5)
        into.compared += tick.compared
        into.differences += tick.differences
        into.resolved += tick.resolved
        return (
            f" | {len(requests)} reads, {tick.compared:2d} shadowed, {len(tick.differences)} differ"
        )

    def mirror_live(self) -> None:
        self.say(
            f"the shop's users at work: {self.args.rate:.0f} changes/s "
            f"for {self.args.seconds:.0f} s"
        )
        self.live(self.args.seconds, shadow=False)

    def shadow_reads(self) -> None:
        self.say(
            f"the orders service serves {self.args.reads} product reads/s from its view and "
            f"shadow-reads {self.args.shadow_percent:.0f}% of them against the monolith's "
            f"query; the shop keeps changing"
        )
        shadow = self.live(self.args.seconds, shadow=True)
        self.summary.load_changes = dict(self.load.churn.counts)
        self.summary.shadow_sampled = shadow.compared
        self.summary.shadow_lag_differences = shadow.resolved
        self.summary.shadow_persistent_differences = shadow.persistent
        self.say(
            f"shadow reads: {shadow.compared} compared, {len(shadow.differences)} differed, of "
            f"which {shadow.resolved} agreed on a re-read 0.5 s later (view lag), "
            f"{shadow.persistent} persistent"
        )
        changes = ", ".join(f"{n} {k}" for k, n in sorted(self.load.churn.counts.items()))
        self.say(f"load generator stopped after {changes}")
        self.caught_up()
        self.full_shadow_read()

    # -- step 2: verify ------------------------------------------------------------------------

    def caught_up(self) -> None:
        took = self.wait_for("view caught up", lambda: self.records_behind() == 0, 60)
        self.summary.events = self.events()
        self.say(f"the view has applied every change ({took:.1f} s after the load stopped)")

    def verify(self, *views: str) -> None:
        """``strangler verify`` of the named views: exit 0 means each equals its source."""
        options = [a for v in views for a in ("--view", v)]
        result = self.show("verify", str(PIPELINE), *options)
        self.summary.verify_output += result.stdout + result.stderr
        self.summary.verify_passed = result.returncode == 0
        if result.returncode != 0:
            raise DemoFailed(f"`strangler verify` failed (exit {result.returncode})")
        which = "the view equals its source" if len(views) == 1 else "each view equals its source"
        self.say(f"verify passed: {which}")

    def compare_all(self) -> ShadowReport:
        with LegacyCatalogue(self.shop_dsn) as legacy, CatalogueView(self.view_path) as view:
            return shadow_read_all(view, legacy)

    def full_shadow_read(self) -> None:
        report = self.compare_all()
        self.summary.full_compare_products = report.compared
        self.summary.full_compare_differences = len(report.differences)
        self.say(
            f"shadow read of every product: {report.compared} compared, "
            f"{len(report.differences)} difference(s)"
        )
        for pid, new, old in report.differences[:5]:
            self.say(f"  product {pid}: view {new} / monolith {old}")
        if report.differences:
            raise DemoFailed("the view differs from the monolith after catching up")

    # -- step 4: cutover of order writes, with the outbox --------------------------------------

    def cutover(self) -> None:
        with psycopg.connect(self.shop_dsn, autocommit=True) as conn:
            conn.execute(CUTOVER_SQL.read_text())  # a static script
        self.say("monolith: cutover.sql makes its orders table refuse writes: one writer only")
        placed = self.place_orders()
        self.say(
            f"orders service: placed {len(placed)} orders (ids {placed[0]}..{placed[-1]}) in "
            "its own database, each with an order_placed event in its outbox"
        )
        took = self.wait_for(
            "outbox events in the monolith's feed",
            lambda: self.feed_count(placed) == len(placed),
            60,
        )
        self.summary.outbox_orders_in_feed = self.feed_count(placed)
        self.say(
            f"monolith: all {len(placed)} order events arrived in orders_feed.order_events "
            f"({took * 1000:.0f} ms after the last order was placed)"
        )
        with psycopg.connect(self.shop_dsn, autocommit=True) as conn:
            conn.execute(ALL_ORDERS_SQL.read_text())  # a static script
        self.say_report_query()
        self.legacy_write_is_refused()

    def place_orders(self) -> list[int]:
        rng = random.Random(5)
        placed: list[int] = []
        with CatalogueView(self.view_path) as view:
            ids = [int(r[0]) for r in view.conn.execute("SELECT id FROM products")]
            with OrdersService(view, self.orders_dsn) as service:
                for _ in range(self.args.orders):
                    customer, product = rng.randint(1, 400), rng.choice(ids)
                    placed.append(service.place_order(customer, product, rng.randint(1, 3)))
        self.summary.outbox_orders = placed
        return placed

    def feed_count(self, placed: Sequence[int]) -> int:
        with psycopg.connect(self.shop_dsn, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass('orders_feed.order_events')").fetchone()
            if exists is None or exists[0] is None:
                return 0
            row = conn.execute(
                "SELECT count(*) FROM orders_feed.order_events WHERE order_id = ANY(%s)",
                [list(placed)],
            ).fetchone()
            return int(row[0]) if row else 0

    def legacy_write_is_refused(self) -> None:
        with psycopg.connect(self.shop_dsn, autocommit=True) as conn:
            try:
                conn.execute("INSERT INTO orders (customer_id, total) VALUES (1, 9.99)")
            except psycopg.errors.RaiseException as exc:
                self.summary.legacy_write_refused = str(exc).splitlines()[0]
                self.say(f"old write path: refused: {self.summary.legacy_write_refused}")
                return
        raise DemoFailed("the monolith still accepts order writes after the cutover")

    def say_report_query(self) -> None:
        with psycopg.connect(self.shop_dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT origin, count(*), sum(total) FROM all_orders GROUP BY origin ORDER BY 1"
            ).fetchall()
        for origin, count, total in rows:
            self.say(f"monolith report all_orders: {origin:14s} {count:5d} orders, {total} total")

    # -- step 5: retire the old path -----------------------------------------------------------

    def retire(self) -> None:
        rng = random.Random(3)
        with CatalogueView(self.view_path) as view:
            ids = [int(r[0]) for r in view.conn.execute("SELECT id FROM products")]
            began = time.monotonic()
            found = sum(len(view.get_many([rng.choice(ids)])) for _ in range(1000))
            took = (time.monotonic() - began) * 1000
        self.say(
            f"reads: shadow reads off; 1000 product reads answered from the view alone "
            f"({found} found, {took:.0f} ms, no connection to the monolith)"
        )
        self.say("writes: the monolith's order code is deleted; its orders table keeps the history")
        self.say("        and refuses writes; the orders service is the single writer of orders")
        self.say("owners: the monolith owns and publishes the catalogue; the orders service owns")
        self.say("        and publishes orders; the next table to move starts again at step 1")

    # -- cleanup -------------------------------------------------------------------------------

    def stop_pipeline(self) -> None:
        if self._watermarks is not None:
            self._watermarks.close()
            self._watermarks = None
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.say(f"stopped `strangler {name}` (exit {proc.returncode})")
        self.procs.clear()

    def teardown(self) -> None:
        self.show("teardown", str(PIPELINE), "--yes", "--topics")


def strangler_exe() -> str:
    beside = Path(sys.executable).with_name("strangler")
    found = str(beside) if beside.exists() else shutil.which("strangler")
    if found is None:
        raise DemoFailed("no `strangler` command\n  fix: run `make setup` (or pip install -e .)")
    return found


def _drop_slot(conn: psycopg.Connection[Any], slot: str) -> None:
    for _ in range(50):
        row = conn.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", [slot]
        ).fetchone()
        if row is None:
            return
        if row[0] is None:
            conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])
            return
        conn.execute("SELECT pg_terminate_backend(%s)", [row[0]])
        time.sleep(0.1)
    raise DemoFailed(f"replication slot {slot} stays in use; stop the process that reads it")


def run(demo: Demo) -> Summary:
    demo.step("set-up: a clean slate")
    demo.check_stack()
    demo.reset()
    demo.work.mkdir(parents=True)
    demo.say(f"dropped what an earlier run left; working files in {demo.work}")
    demo.step("set-up: the legacy shop (PostgreSQL) and the orders service's own database")
    demo.create_databases()
    try:
        demo.step("1. mirror: CDC publishes the catalogue; the orders service's view follows it")
        demo.start_pipeline()
        demo.wait_for_snapshot()
        demo.show("status", str(PIPELINE))
        demo.mirror_live()
        demo.step("2. verify: does the view equal the source?")
        demo.caught_up()
        demo.verify(demo.names.catalogue_view)
        demo.step("3. shadow reads: the new answer next to the old one")
        demo.shadow_reads()
        demo.step("4. cutover: the orders service takes the orders and publishes them")
        demo.cutover()
        demo.verify(demo.names.catalogue_view, demo.names.feed_view)
        demo.step("5. retire the old path")
        demo.retire()
    finally:
        demo.step("clean up")
        demo.load.close()
        demo.stop_pipeline()
        demo.teardown()
    demo.say(
        f"kept to look at: databases {demo.names.shop_db} and {demo.names.orders_db}, "
        f"the view {demo.view_path}"
    )
    return demo.summary


def _run_id(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]{0,20}", text):
        raise argparse.ArgumentTypeError(
            "use up to 20 of a-z, 0-9 and _ (slot names allow no more)"
        )
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--run-id", default="", type=_run_id, help="suffix for databases, slots, topics, views"
    )
    parser.add_argument("--work-dir", type=Path, help="where logs, state and the view file go")
    parser.add_argument("--products", type=int, default=ShopSize.products)
    parser.add_argument("--rate", type=float, default=50.0, help="shop changes per second")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of each live phase (mirror, shadow)"
    )
    parser.add_argument("--reads", type=int, default=200, help="product reads per second")
    parser.add_argument("--shadow-percent", type=float, default=10.0, help="reads shadowed")
    parser.add_argument("--orders", type=int, default=25, help="orders placed after cutover")
    parser.add_argument("--summary", type=Path, help="write the outcome as JSON here")
    parser.add_argument("--reset-only", action="store_true", help="drop this run's things, exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = Names(args.run_id)
    default_work = f"strangler-{names.label}-{os.getuid()}"
    work = args.work_dir or Path(tempfile.gettempdir()) / default_work
    try:
        demo = Demo(Endpoints.from_env(), names, work.resolve(), args)
        if args.reset_only:
            demo.check_stack()
            demo.reset()
            return 0
        summary = run(demo)
    except DemoFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted (the pipeline was stopped and torn down)", file=sys.stderr)
        return 130
    summary.duration_s = round(time.monotonic() - demo.started, 1)
    if args.summary:
        args.summary.write_text(json.dumps(asdict(summary), indent=2))
    print(
        f"\ndone in {summary.duration_s:.0f} s: verify passed; shadow reads "
        f"{summary.full_compare_differences} differences in {summary.full_compare_products} "
        f"products; {summary.outbox_orders_in_feed} of {len(summary.outbox_orders)} outbox "
        "orders reached the monolith"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
