"""examples/exchange-rates run start to finish on the real stack: after the rates moved, the
payments service's join over its SQLite view gives every payment's amount in the home currency
exactly as the card platform computes it from its own tables."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

from tests.support.examples import EXAMPLES, run_example

pytestmark = pytest.mark.e2e

# each payment in its card's home currency at the current rates, in exact numeric arithmetic
EXPECTED = """
SELECT p.id, round(p.amount * home.per_eur / paid.per_eur, 2)
FROM payments p
JOIN rates paid ON paid.currency = p.currency
JOIN rates home ON home.currency = p.home_currency
"""


def payments_service() -> ModuleType:
    """examples/exchange-rates/service.py, loaded by path (examples are not a package)."""
    spec = importlib.util.spec_from_file_location(
        "exchange_rates_service", EXAMPLES / "exchange-rates" / "service.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_payments_in_the_home_currency_follow_the_rates(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    db = tmp_path / "payments-service.db"
    result = run_example(
        "exchange-rates/run.py", "--logs", str(tmp_path), "--timeout", "40",
        endpoints={"pg_dsn": pg_database, "kafka_bootstrap": kafka_bootstrap,
                   "registry_url": registry_url},
        names={"RATES_TOPIC_PREFIX": topic_name, "RATES_SLOT": f"fx_{uuid.uuid4().hex[:12]}",
               "PAYMENTS_VIEW": topic_name, "PAYMENTS_DB": str(db),
               "RATES_STATE_DIR": str(tmp_path / "state")},
        work=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("playbook: done")
    verified = [line for line in result.stdout.splitlines() if line.startswith(topic_name + "/")]
    assert len(verified) == 2 and all(" equal " in line for line in verified), result.stdout

    with psycopg.connect(pg_database) as conn:
        expected = {int(i): amount for i, amount in conn.execute(EXPECTED)}
        rates: dict[str, Decimal] = dict(conn.execute("SELECT currency, per_eur FROM rates"))
        moved = conn.execute("SELECT count(*) FROM rates WHERE desk <> 'opening'").fetchone()
    assert moved is not None and moved[0] >= 5  # the market did move
    assert len(expected) == 300

    service = payments_service()
    lines = service.statement(db)
    assert {line.id: line.home_amount for line in lines} == expected
    abroad = [line for line in lines if line.currency != line.home_currency]
    assert len(abroad) > 200  # most lunches were bought abroad

    # the view holds the latest rate of each currency, one row each (a compacted table)
    with sqlite3.connect(db) as view:
        view_rates = {c: Decimal(r) for c, r in view.execute("SELECT currency, per_eur FROM rates")}
    assert view_rates == rates
