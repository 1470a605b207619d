"""examples/schema-evolution run start to finish on the real stack: the registered versions, the
view's columns after each step, the refusal of the incompatible change, and the content of the
view rebuilt from the new topics."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.examples import run_example

pytestmark = pytest.mark.e2e

NULL_STRING = ["null", "string"]
DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 14, "scale": 2}

# the value schema's fields, version by version, of the first topic
V1 = {"id": "int", "owner": "string", "balance": "int", "email": NULL_STRING}
V2 = {**V1, "tier": NULL_STRING, "currency": "string"}  # NOT NULL DEFAULT 'EUR': a default
V4 = {"id": "int", "owner": "string", "balance": "long", "contact_email": NULL_STRING,
      "tier": NULL_STRING, "currency": "string"}  # fmt: skip
VERSIONS = [V1, V2, {**V2, "balance": "long"}, V4]

# the view's columns after each step of the drill
BASE = [["id", "integer"], ["owner", "text"]]
ADDED = [["tier", "text"], ["currency", "text"]]
VIEW_COLUMNS = {
    "snapshot": [*BASE, ["balance", "integer"], ["email", "text"]],
    "add_column": [*BASE, ["balance", "integer"], ["email", "text"], *ADDED],
    "widen": [*BASE, ["balance", "bigint"], ["email", "text"], *ADDED],
    "rename": [*BASE, ["balance", "bigint"], ["email", "text"], *ADDED, ["contact_email", "text"]],
    "alias": [*BASE, ["balance", "bigint"], *ADDED, ["email", "text"]],
    "refused": [*BASE, ["balance", "bigint"], *ADDED, ["email", "text"]],
    "rollout": [*BASE, ["balance", "numeric"], ["email", "text"], *ADDED],
    "after_rollout": [*BASE, ["balance", "numeric"], ["email", "text"], *ADDED],
}


def field_defaults(registry: str, subject: str, version: int) -> dict[str, Any]:
    with httpx.Client(base_url=registry) as client:
        answer = client.get(f"/subjects/{subject}/versions/{version}").json()
    return {f["name"]: f.get("default", "-") for f in json.loads(answer["schema"])["fields"]}


def registered(registry: str, subject: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=registry) as client:
        numbers = client.get(f"/subjects/{subject}/versions").json()
        schemas = [client.get(f"/subjects/{subject}/versions/{n}").json() for n in numbers]
    return [{f["name"]: f["type"] for f in json.loads(s["schema"])["fields"]} for s in schemas]


def test_schema_evolution_drill(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    slot = f"evo_{uuid.uuid4().hex[:12]}"
    report_file = tmp_path / "drill.json"
    result = run_example(
        "schema-evolution/drill.py", "--logs", str(tmp_path), "--report", str(report_file),
        endpoints={"pg_dsn": pg_database, "kafka_bootstrap": kafka_bootstrap,
                   "registry_url": registry_url},
        names={"EVOLUTION_TOPIC_PREFIX": topic_name, "EVOLUTION_SLOT": slot,
               "EVOLUTION_VIEW": topic_name, "EVOLUTION_STATE_DIR": str(tmp_path / "state")},
        work=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("drill: done")
    report = json.loads(report_file.read_text())

    # compatible changes: one new version each (none for the backfill), BACKWARD checked
    subject = f"{topic_name}.public.accounts-value"
    assert registered(registry_url, subject) == VERSIONS
    # the NOT NULL column's constant SQL default is its Avro default (so BACKWARD accepts it)
    assert field_defaults(registry_url, subject, 2)["currency"] == "EUR"
    config = httpx.get(f"{registry_url}/config/{subject}", params={"defaultToGlobal": "true"})
    assert config.json()["compatibilityLevel"] == "BACKWARD"
    seen = {s["step"]: [v["version"] for v in s["versions"]] for s in report["steps"]}
    assert seen["snapshot"] == [1] and seen["widen"] == [1, 2, 3]
    assert seen["alias"] == seen["refused"] == [1, 2, 3, 4]
    assert {s["step"]: s["view"] for s in report["steps"]} == VIEW_COLUMNS

    # the incompatible change: refused, with what changed and how to proceed
    refusal = report["refusal"]
    assert refusal["exit_code"] == 5
    assert f"error: schema change refused for {subject}" in refusal["message"]
    assert "TYPE_MISMATCH" in refusal["message"]
    assert "reader type: bytes not compatible with writer type: long" in refusal["message"]
    assert "nothing of the new shape was published" in refusal["message"]
    assert "fix:" in refusal["message"] and "another topic_prefix" in refusal["message"]

    # the rollout: new topics with the new shape, the rebuilt view equals the table
    assert registered(registry_url, f"{topic_name}-v2.public.accounts-value") == [
        {**VERSIONS[3], "balance": DECIMAL}
    ]
    assert report["verify_exit_code"] == 0
    with psycopg.connect(pg_database) as conn:
        view = conn.execute(
            "SELECT id, owner, balance, tier, email, currency FROM accounts_service.accounts "
            "ORDER BY id"
        ).fetchall()
        source = conn.execute(
            "SELECT id, owner, balance, tier, contact_email, currency FROM public.accounts "
            "ORDER BY id"
        ).fetchall()
        slots = {r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")}
    assert view == source and len(view) == 20
    rows = {row[0]: row for row in view}
    assert str(rows[3][2]) == "5000000000.00"  # widened before the rollout
    assert str(rows[5][2]).endswith(".25")  # the refused change, published on the new topics
    assert (str(rows[7][2]), rows[7][3]) == ("99.99", "gold")  # streamed after the rollout
    assert rows[1][4] == "ada.new@example.org"  # written to the renamed column
    assert all(row[4] for row in view)  # the alias `email` holds every row's contact_email
    assert {row[5] for row in view} == {"EUR", "USD"}  # the NOT NULL DEFAULT column, filled
    assert slot not in slots and f"{slot}_v2" in slots  # the old source was retired
