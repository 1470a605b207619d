"""Pure parts of the local stack: ids, settings resolution, process identity, messages."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strangler.cli.devstack import prereqs
from strangler.cli.devstack.errors import PrerequisiteMissing, ServiceStartFailed, log_tail
from strangler.cli.devstack.kafka import new_cluster_id
from strangler.cli.devstack.process import Deadline, ProcessRecord, terminate
from strangler.cli.devstack.settings import StackSettings, resolve

pytestmark = pytest.mark.unit


def test_cluster_id_is_kafka_uuid_text() -> None:
    for _ in range(200):
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_settings_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STRANGLER_DEV_PG_PORT", "STRANGLER_DEV_KAFKA_PORT", "STRANGLER_DEV_DIR"):
        monkeypatch.delenv(var, raising=False)
    StackSettings(base_dir=tmp_path, pg_port=1111, kafka_port=2222).save()
    assert resolve(base_dir=tmp_path).pg_port == 1111  # saved beats default
    monkeypatch.setenv("STRANGLER_DEV_PG_PORT", "3333")
    assert resolve(base_dir=tmp_path).pg_port == 3333  # environment beats saved
    assert resolve(base_dir=tmp_path, pg_port=4444).pg_port == 4444  # option beats environment
    assert resolve(base_dir=tmp_path).kafka_port == 2222
    assert resolve(base_dir=tmp_path / "fresh").mysql_port == 23306  # default


def test_process_record_tells_our_process_from_a_reused_pid() -> None:
    me = ProcessRecord.of(os.getpid())
    assert me is not None and me.alive()
    assert not ProcessRecord(os.getpid(), me.start_ticks + 1).alive()
    assert ProcessRecord.of(2**22 + 12345) is None


def test_terminate_stops_only_the_recorded_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = ProcessRecord.of(proc.pid)
    assert record is not None
    terminate(ProcessRecord(proc.pid, record.start_ticks + 1))  # not ours: left alone
    assert proc.poll() is None
    terminate(record, timeout=10)
    assert proc.wait(5) is not None


def test_missing_program_names_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PrerequisiteMissing) as info:
        prereqs.java_program()
    assert "java" in str(info.value) and "openjdk-17-jre-headless" in str(info.value)
    with pytest.raises(PrerequisiteMissing, match="maven"):
        prereqs.maven_program()


def test_start_failure_shows_the_services_own_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)) + "\nFATAL: port in use\n")
    message = str(ServiceStartFailed("kafka", "the broker exited", log))
    assert "kafka did not start: the broker exited" in message
    assert "FATAL: port in use" in message and "line 99" in message and "line 10\n" not in message
    assert log_tail(tmp_path / "absent.log") == ""


def test_startup_deadline_moves_while_the_log_grows_and_not_past_its_limit(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("starting\n")
    deadline = Deadline(log, 0.05, quiet=0.2, limit=0.5)
    time.sleep(0.1)
    assert not deadline.open()  # silent past its initial time: over

    deadline = Deadline(log, 0.05, quiet=0.2, limit=0.5)
    time.sleep(0.1)
    with log.open("a") as out:
        out.write("Completed load of Log(...)\n")
    assert deadline.open()  # the log grew: `quiet` more seconds
    time.sleep(0.25)
    assert not deadline.open()  # then silent again for longer than `quiet`

    deadline = Deadline(log, 0.05, quiet=10.0, limit=0.3)
    end = time.monotonic() + 2.0
    while deadline.open() and time.monotonic() < end:
        with log.open("a") as out:
            out.write("still recovering\n")
        time.sleep(0.02)
    assert time.monotonic() < end  # a log that never stops growing still meets `limit`
