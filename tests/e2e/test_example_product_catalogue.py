"""The product-catalogue playbook (examples/product-catalogue) run start to finish on the real
stack, with names of its own; then its outcome is checked independently of what it printed:
the orders service's view equals the monolith's projection, shadow reads found no difference,
every order placed through the outbox reached the monolith, and verify passed."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "examples" / "product-catalogue" / "demo.py"


def _demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args], env=env,
        capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip


def _view_rows(path: Path) -> set[tuple[int, str, str, Decimal, int]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, sku, title, price, category_id FROM products").fetchall()
    return {(i, s, t, Decimal(p), c) for i, s, t, p, c in rows}


def _source_rows(dsn: str) -> set[tuple[int, str, str, Decimal, int]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id, sku, name, price, category_id FROM products WHERE active"
        ).fetchall()
    return set(rows)


def _outbox(dsn: str, table: str) -> list[tuple[int, int, Decimal]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT event_id, order_id, total FROM {table} ORDER BY event_id"  # fixed names
        ).fetchall()
    return [(int(e), int(o), Decimal(t)) for e, o, t in rows]


def test_product_catalogue_playbook(
    pg_dsn: str, kafka_bootstrap: str, registry_url: str, tmp_path: Path
) -> None:
    run_id = f"t{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "STRANGLER_PG_DSN": pg_dsn,
        "STRANGLER_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "STRANGLER_REGISTRY_URL": registry_url,
    }
    summary_path = tmp_path / "summary.json"
    work = tmp_path / "work"
    common = ["--run-id", run_id, "--work-dir", str(work)]
    try:
        result = _demo(env, *common, "--seconds", "4", "--summary", str(summary_path))
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        summary = json.loads(summary_path.read_text())

        # the generated shop: the same sizes every run (a seeded generator)
        assert {k: summary["loaded"][k] for k in ("categories", "products", "inventory")} == {
            "categories": 255, "products": 3000, "inventory": 9000,
        }  # fmt: skip
        # mirror: live figures were printed while the shop changed
        assert summary["load_changes"]["price_change"] > 0, summary
        assert " behind | a price change reached the view in" in result.stdout
        # verify and shadow reads
        assert summary["verify_passed"] is True, summary["verify_output"]
        assert f"legacy_shop_order_feed_{run_id}/order_events" in summary["verify_output"]
        assert summary["shadow_sampled"] > 0 and summary["shadow_persistent_differences"] == 0
        assert summary["full_compare_differences"] == 0 and summary["full_compare_products"] > 0
        # the view, read back here, equals the monolith's projection of products on sale
        shop = make_conninfo(pg_dsn, dbname=f"legacy_shop_{run_id}")
        view = _view_rows(work / "orders-service" / "catalogue.db")
        assert len(view) >= 2500 and view == _source_rows(shop)
        # cutover: every order the service placed reached the monolith through the outbox
        orders = make_conninfo(pg_dsn, dbname=f"orders_service_{run_id}")
        outbox = _outbox(orders, "outbox")
        assert [o for _, o, _ in outbox] == summary["outbox_orders"] and len(outbox) == 25
        assert _outbox(shop, "orders_feed.order_events") == outbox
        assert "orders are taken by the orders service" in summary["legacy_write_refused"]
        # clean-up: the demo dropped its replication slots
        with psycopg.connect(pg_dsn) as conn:
            slots = conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s",
                [f"%{run_id}"],
            ).fetchall()
        assert slots == []
    finally:
        cleaned = _demo(env, *common, "--reset-only")
        assert cleaned.returncode == 0, cleaned.stderr


def test_pipeline_file_defaults_to_the_dev_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any variable set, pipeline.yaml points at `strangler dev up`'s services, and the
    service's view is the documented projection: products on sale, five columns, a rename."""
    from strangler.cli.config import load_pipeline

    path = DEMO.with_name("pipeline.yaml")
    for var in re.findall(r"\$\{(\w+)", path.read_text()):
        monkeypatch.delenv(var, raising=False)
    pipeline = load_pipeline(path)
    assert pipeline.kafka.bootstrap_servers == "127.0.0.1:29092"
    assert [s.name for s in pipeline.sources] == ["shop", "orders_service"]
    (products,) = pipeline.views[0].topics
    assert products.topic == "legacy_shop.public.products"
    assert products.columns == ["id", "sku", "name", "price", "category_id"]
    assert products.rename == {"name": "title"} and products.filter is not None
