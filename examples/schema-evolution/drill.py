"""The schema-evolution drill, start to finish: compatible changes flowing through the registry
into the view (add columns, nullable and NOT NULL with a constant default; widen a type; rename
a column and alias it in the view), an incompatible change the pipeline refuses, and its safe
rollout (new topics, the same view rebuilt from them, swap). Exit 0 only when every step
behaved as the README says.

    eval "$(strangler dev env)"
    python examples/schema-evolution/drill.py --report drill.json

Endpoints and names come from the environment (see pipeline.yaml); logs go to --logs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bank

from strangler.schema_registry.client import RegistryClient
from strangler.schema_registry.model import CompatibilityLevel

HERE = Path(__file__).resolve().parent
VIEW = os.environ.get("EVOLUTION_VIEW", "accounts_service")
STRANGLER = str(Path(sys.executable).with_name("strangler"))
ALIASED = ["id", "owner", "balance", "tier", "currency", "email"]
"""The view's columns once `email` is the alias of the source's `contact_email`."""


class Drill:
    """The processes, logs and report of one run of the drill."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.connector: subprocess.Popen[bytes] | None = None
        self.slot = bank.SLOT
        self.report: dict[str, Any] = {"steps": []}

    def strangler(self, *args: str) -> int:
        """Run ``strangler ARGS`` to the end, its output appended to logs/strangler.log."""
        with (self.logs / "strangler.log").open("ab") as out:
            return subprocess.run([STRANGLER, *args], stdout=out, stderr=out).returncode

    def start_connector(self, pipeline: str, slot: str) -> None:
        log = (self.logs / f"connect-{slot}.log").open("wb")
        self.connector = subprocess.Popen(
            [STRANGLER, "connect", str(HERE / pipeline)], stdout=log, stderr=subprocess.STDOUT
        )
        self.slot = slot
        print(f"  strangler connect {pipeline}  (log: {log.name})")

    def alive(self) -> bool:
        return self.connector is not None and self.connector.poll() is None

    def caught_up(self, lsn: str, pipeline: str) -> None:
        """The connector has everything up to ``lsn`` in Kafka; the view has applied it."""
        bank.wait_confirmed(self.slot, lsn, self.alive)
        self.materialize(pipeline)

    def snapshotted(self, pipeline: str, timeout: float = 60) -> None:
        """Wait until the connector's snapshot of every table is in Kafka."""
        deadline = time.monotonic() + timeout
        while not snapshot_done(pipeline):
            if not self.alive() or time.monotonic() > deadline:
                raise SystemExit(f"the snapshot of {pipeline} did not finish; see its log")
            time.sleep(0.3)

    def materialize(self, pipeline: str) -> None:
        """Run the view until it has applied every record there is (idle for a second)."""
        code = self.strangler("materialize", str(HERE / pipeline), "--idle-exit", "1")
        if code != 0:
            raise SystemExit(f"strangler materialize {pipeline} exited {code}; see strangler.log")

    def record(self, step: str, subject: str = bank.SUBJECT) -> None:
        """Note and print what the registry and the view look like after ``step``."""
        registered = bank.versions(subject)
        columns = bank.view_columns()
        self.report["steps"].append({"step": step, "versions": registered, "view": columns})
        latest = registered[-1]
        print(f"  registry: {subject} versions {[v['version'] for v in registered]}; latest:")
        print(f"    {json.dumps(latest['fields'])}")
        print(f"  view {bank.VIEW_SCHEMA}.accounts: {', '.join(f'{n} {t}' for n, t in columns)}")

    def stop(self) -> int | None:
        if self.connector is None:
            return None
        if self.connector.poll() is None:
            self.connector.send_signal(signal.SIGTERM)
        return self.connector.wait(timeout=60)


def snapshot_done(pipeline: str) -> bool:
    """`strangler status` says the snapshot of every table of ``pipeline`` is done."""
    status = subprocess.run(
        [STRANGLER, "status", str(HERE / pipeline), "--json"], capture_output=True, text=True
    )
    if status.returncode != 0:
        return False
    tables = json.loads(status.stdout).get("tables") or [{}]
    return all(t.get("snapshot") == "done" for t in tables)


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def mirror(drill: Drill, seed: int) -> None:
    heading("0. the bank's accounts table, captured; the accounts service's view")
    bank.setup(seed)
    RegistryClient(bank.REGISTRY).set_level(bank.SUBJECT, CompatibilityLevel.BACKWARD)
    print(f"  compatibility of {bank.SUBJECT}: {bank.compatibility(bank.SUBJECT)}")
    drill.start_connector("pipeline.yaml", bank.SLOT)
    drill.snapshotted("pipeline.yaml")
    drill.materialize("pipeline.yaml")
    drill.record("snapshot")


def compatible_changes(drill: Drill) -> None:
    for number, name in enumerate(("add_column", "widen", "rename"), start=1):
        change = bank.CHANGES[name]
        heading(f"{number}. {change.title}")
        drill.caught_up(bank.apply(change), "pipeline.yaml")
        drill.record(name)
    heading("4. backfill the renamed column, then alias it in the view (--rebuild)")
    drill.caught_up(bank.apply(bank.CHANGES["backfill"]), "pipeline.yaml")
    code = drill.strangler("materialize", str(HERE / "pipeline-alias.yaml"), "--rebuild", VIEW)
    if code != 0:
        raise SystemExit(f"the rebuild of {VIEW} exited {code}; see strangler.log")
    drill.record("alias")


def refused(drill: Drill) -> None:
    heading("5. an incompatible change: refused before anything is published")
    bank.apply(bank.CHANGES["incompatible"])
    assert drill.connector is not None
    try:  # the connector stops on its own
        code: int | None = drill.connector.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = drill.stop()
    log = (drill.logs / f"connect-{drill.slot}.log").read_text()
    lines = log.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("error:")), len(lines))
    message = lines[at : at + 2]  # the error and its fix
    print(f"  strangler connect exited {code}:")
    print("    " + "\n    ".join(message))
    drill.report["refusal"] = {"exit_code": code, "message": "\n".join(message)}
    drill.record("refused")
    if code != 5 or not message:
        raise SystemExit("the incompatible change was not refused (exit 5 with a message)")


def rollout(drill: Drill) -> bool:
    heading("6. safe rollout: new topics (snapshot in the new shape), rebuilt view, swap")
    drill.start_connector("pipeline-v2.yaml", f"{bank.SLOT}_v2")
    drill.snapshotted("pipeline-v2.yaml")
    code = drill.strangler("materialize", str(HERE / "pipeline-v2.yaml"), "--rebuild", VIEW)
    if code != 0:
        raise SystemExit(f"the rebuild of {VIEW} on the new topic exited {code}; see strangler.log")
    drill.record("rollout", bank.SUBJECT_V2)
    teardown = drill.strangler("connect", str(HERE / "pipeline.yaml"), "--teardown")
    print(f"  retired the old source (slot, publication): exit {teardown}; see strangler.log")
    heading("7. business as usual on the new topics; verify the view equals the table")
    drill.caught_up(bank.apply(bank.CHANGES["after_rollout"]), "pipeline-v2.yaml")
    drill.record("after_rollout", bank.SUBJECT_V2)
    equal = bank.view_rows(ALIASED) == bank.source_rows([*ALIASED[:-1], "contact_email"])
    verified = subprocess.run(
        [STRANGLER, "verify", str(HERE / "pipeline-v2.yaml"), "--settle", "5"], check=False
    )
    drill.report["view_equals_source"] = equal
    drill.report["verify_exit_code"] = verified.returncode
    print(f"  view equals public.accounts (email = contact_email): {equal}")
    return equal and verified.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=8, help="seed of the generated rows")
    parser.add_argument("--logs", type=Path, default=Path(".strangler/logs"))
    parser.add_argument("--report", type=Path, help="write what each step showed, as JSON")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    drill = Drill(args.logs)
    try:
        mirror(drill, args.seed)
        compatible_changes(drill)
        refused(drill)
        ok = rollout(drill)
    finally:
        drill.stop()
        if args.report:
            args.report.write_text(json.dumps(drill.report, indent=2, default=str))
    print("\ndrill: " + ("done" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
