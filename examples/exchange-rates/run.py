"""The playbook, start to finish: the card platform's rates and payments, captured and
materialized into the payments service's SQLite file; the service's statements in the home
currency equal what the platform computes, before and after the market moves; verify; stop.
Exit 0 only when every check passed.

    eval "$(strangler dev env)"
    python examples/exchange-rates/run.py

Endpoints and names come from the environment (see pipeline.yaml); the log goes to --logs.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import service
import travel

HERE = Path(__file__).resolve().parent
PIPELINE = HERE / "pipeline.yaml"
STRANGLER = str(Path(sys.executable).with_name("strangler"))
ABROAD = "card-01"
"""A card billed in pounds, whose holder buys lunch all over the world."""


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def mismatches() -> list[int]:
    """Payments whose home amount in the service differs from the platform's (or is missing)."""
    want = travel.expected()
    try:
        have = {line.id: line.home_amount for line in service.statement()}
    except sqlite3.OperationalError:  # the view's file or tables are not created yet
        return sorted(want)
    return sorted(i for i in want.keys() | have.keys() if want.get(i) != have.get(i))


def in_step(timeout: float, pipeline: subprocess.Popen[bytes]) -> bool:
    """Wait until every payment's home amount agrees; report either way."""
    deadline = time.monotonic() + timeout
    while (wrong := mismatches()) and time.monotonic() < deadline and pipeline.poll() is None:
        time.sleep(0.5)
    if wrong:
        print(f"check: {len(wrong)} payments differ, e.g. {wrong[:5]}")
        return False
    print(f"check: all {len(travel.expected())} payments agree with the card platform")
    return True


def playbook(args: argparse.Namespace, pipeline: subprocess.Popen[bytes]) -> bool:
    heading("3. the service's view catches up: statements equal the platform's")
    if not in_step(args.timeout, pipeline):
        return False
    print(f"statement of {ABROAD} (home currency {travel.home_currency(ABROAD)}):")
    before = service.statement(card=ABROAD)
    service.show(before)
    heading("4. the market moves: rates change (compacted: one row per currency), lunches go on")
    travel.market(args.seed)
    heading("5. the same statement at today's rates")
    if not in_step(args.timeout, pipeline):
        return False
    after = {line.id: line for line in service.statement(card=ABROAD)}
    service.show(list(after.values()))
    changed = sum(1 for line in before if after[line.id].home_amount != line.home_amount)
    print(f"{changed} of {len(before)} earlier payments now cost a different amount at home")
    heading("6. strangler verify: the view's tables equal the platform's, row by row")
    verify = subprocess.run([STRANGLER, "verify", str(PIPELINE), "--settle", "5"], check=False)
    return verify.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=8, help="seed of the generated data")
    parser.add_argument("--timeout", type=float, default=60, help="longest wait per check")
    parser.add_argument("--logs", type=Path, default=Path(".strangler/logs"))
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    heading("1. the card platform: opening rates and a morning of payments")
    travel.setup(args.seed)
    heading("2. strangler run: capture rates and payments, keep the service's view in sync")
    log = (args.logs / "run.log").open("wb")
    command = [STRANGLER, "run", str(PIPELINE), "--metrics-port", "0"]
    pipeline = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    print(f"started: strangler run {PIPELINE.name}  (log: {log.name})")
    try:
        ok = playbook(args, pipeline)
    finally:
        heading("7. stop (graceful: the slot position and the view's offsets are stored)")
        pipeline.send_signal(signal.SIGTERM)
        code = pipeline.wait(timeout=60)
        print(f"strangler run exited {code}")
    print("\nplaybook: " + ("done" if ok and code == 0 else "FAILED"))
    return 0 if ok and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
