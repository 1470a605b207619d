"""The playbook, start to finish: create the legacy inventory, check the source, mirror it into the
PostgreSQL reporting view, prove the view equals the projection, apply a day of changes, prove it
again, stop. Exit 0 only when every check passed.

    eval "$(strangler dev env)"
    python examples/mysql-inventory-to-reporting/run.py

Endpoints and names come from the environment (see pipeline.yaml); process logs go to --logs.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import inventory

HERE = Path(__file__).resolve().parent
PIPELINE = HERE / "pipeline.yaml"


def strangler_exe() -> str:
    """The strangler command beside this Python (a venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("strangler")
    return str(beside) if beside.exists() else shutil.which("strangler") or "strangler"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def start(command: str, logs: Path) -> subprocess.Popen[bytes]:
    """``strangler COMMAND pipeline.yaml`` in the background, its output in logs/COMMAND.log."""
    log = (logs / f"{command}.log").open("wb")
    print(f"started: strangler {command} {PIPELINE.name}  (log: {log.name})", flush=True)
    return subprocess.Popen(
        [strangler_exe(), command, str(PIPELINE)], stdout=log, stderr=subprocess.STDOUT
    )


def wait_for_topics(timeout: float) -> None:
    """Wait until the connector has created every topic the views follow: a view started
    before its topics exist stops with UNKNOWN_TOPIC_OR_PART."""
    from confluent_kafka.admin import AdminClient

    from strangler.cli.config import load_pipeline

    pipeline = load_pipeline(PIPELINE)
    wanted = {t.topic for view in pipeline.views for t in view.topics}
    admin = AdminClient({"bootstrap.servers": pipeline.kafka.bootstrap_servers})
    deadline = time.monotonic() + timeout
    while missing := wanted - set(admin.list_topics(timeout=10).topics):
        if time.monotonic() > deadline:
            raise SystemExit(f"topics {sorted(missing)} did not appear; see connect.log")
        time.sleep(0.5)
    print(f"topics ready: {sorted(wanted)}", flush=True)


def stop(processes: list[subprocess.Popen[bytes]]) -> bool:
    """SIGTERM each, wait; True when every one stopped cleanly (exit 0)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = [process.wait(timeout=60) for process in processes]
    print(f"stopped: exit codes {codes}")
    return all(code == 0 for code in codes)


def playbook(args: argparse.Namespace) -> bool:
    step("1. the legacy inventory (MariaDB)")
    inventory.setup(args.seed)
    step("2. preflight: binlog format, privileges, keys of every captured table")
    subprocess.run([strangler_exe(), "connect", str(PIPELINE), "--check"], check=True)
    step("3. mirror: capture the tables, keep the reporting view in sync")
    processes = [start("connect", args.logs)]
    try:
        wait_for_topics(args.timeout)
        processes.append(start("materialize", args.logs))
        if not inventory.check(args.timeout):
            return False
        step("4. a day in the monolith: inserts, updates, deletes, rows leaving filters")
        started = time.monotonic()
        inventory.changes(args.seed)
        step("5. verify: the reporting view equals the projection again")
        if not inventory.check(args.timeout):
            return False
        print(f"caught up {time.monotonic() - started:.1f} s after the changes began")
        step("6. strangler verify: the product's own proof, table by table")
        verify = [strangler_exe(), "verify", str(PIPELINE), "--settle", "5"]
        if subprocess.run(verify, check=False).returncode != 0:
            return False
    finally:
        step("7. stop (graceful: positions and offsets are stored)")
        stopped = stop(processes)
    return stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=8, help="seed of the generated data")
    parser.add_argument("--timeout", type=float, default=60, help="longest wait per check")
    parser.add_argument("--logs", type=Path, default=Path(".strangler/logs"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    ok = playbook(args)
    print("\nplaybook: " + ("done, the reporting view is safe to use" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
