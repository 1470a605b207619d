"""kill -9 at random points, at least 20 times, while transactions are being written: a
streaming process that stores a transaction's position only after its events are safely
written, and restarts from the stored position, loses nothing (duplicates are allowed:
at-least-once)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymysql
import pytest

from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, position_now, settings

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("my_crash_worker.py")
ROOT = Path(__file__).resolve().parents[4]


def _write(db: MysqlDatabase, ids: range, stop: threading.Event) -> None:
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=False)
    with conn.cursor() as cur:
        for first in ids[::5]:
            for key in range(first, first + 5):
                cur.execute("INSERT INTO t VALUES (%s)", (key,))
            conn.commit()
            time.sleep(0.02)
    conn.close()
    stop.set()


def _run_worker(db: MysqlDatabase, tmp: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [json.dumps(settings(db)), db.name, str(tmp / "position"), str(tmp / "out")]
    return subprocess.Popen([sys.executable, str(WORKER), *args], env=env, cwd=ROOT)


def _seen(tmp: Path) -> list[int]:
    lines = (tmp / "out").read_text().splitlines() if (tmp / "out").exists() else []
    return [json.loads(line)[1] for line in lines if line.endswith("]")]


def _wait_for_output(tmp: Path, worker: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Until the worker wrote another event (a loaded machine may take seconds to start it)."""
    out = tmp / "out"
    size = out.stat().st_size if out.exists() else 0
    deadline = time.monotonic() + timeout
    while (out.stat().st_size if out.exists() else 0) == size and time.monotonic() < deadline:
        assert worker.poll() is None, "the worker ended on its own"
        time.sleep(0.01)


def test_kill_9_at_random_points_loses_nothing(
    mysql_database: MysqlDatabase, tmp_path: Path
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (id int PRIMARY KEY)")
    (tmp_path / "position").write_text(position_now(db).encode())
    ids = range(1, 3001)
    stop = threading.Event()
    writer = threading.Thread(target=_write, args=(db, ids, stop))
    writer.start()
    rng, kills, during_writes, progress = random.Random(3), 0, 0, set()
    try:
        while kills < 20 or not stop.is_set():
            worker = _run_worker(db, tmp_path)
            if not stop.is_set() and rng.random() < 0.8:  # most kills after some progress
                _wait_for_output(tmp_path, worker)
                time.sleep(rng.uniform(0, 0.6))
            else:  # the others anywhere, start-up included
                time.sleep(rng.uniform(0.3, 1.2))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            during_writes += not stop.is_set()
            progress.add((tmp_path / "position").read_text())
    finally:
        writer.join()
    worker = _run_worker(db, tmp_path)
    deadline = time.monotonic() + 60
    while set(_seen(tmp_path)) != set(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    seen = _seen(tmp_path)
    assert kills >= 20 and during_writes >= 15 and len(progress) >= 10
    assert set(seen) == set(ids), f"lost: {sorted(set(ids) - set(seen))[:20]}"
    assert len(seen) >= len(ids)  # at-least-once: repeats only after a kill
