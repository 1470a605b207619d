"""Two registry processes on one ``_schemas`` topic: one elected writer, the other forwards;
killing the writer mid-traffic loses no acknowledged registration and the survivor takes over."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration

SERVER = """
import sys
from strangler.schema_registry.config import RegistrySettings, StorageKind
from strangler.schema_registry.server import serve
port, bootstrap, topic, group = sys.argv[1:5]
serve(RegistrySettings(port=int(port), storage=StorageKind.KAFKA, kafka_bootstrap=bootstrap,
                       topic=topic, group_id=group, access_log=False))
"""
HEADERS = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def schema(i: int) -> str:
    return json.dumps(
        {"type": "record", "name": f"R{i}", "fields": [{"name": "f", "type": "long"}]}
    )


class Instance:
    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-c", SERVER, str(self.port), bootstrap, topic, group]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def health(self) -> dict[str, object] | None:
        try:
            body: dict[str, object] = httpx.get(f"{self.url}/health", timeout=2).json()
            return body
        except httpx.HTTPError:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def register_until_acknowledged(url: str, subject: str, text: str, deadline_s: float = 60) -> int:
    """A client with retries, as confluent-kafka's (5xx and transport errors are retried)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            answer = httpx.post(
                f"{url}/subjects/{subject}/versions",
                content=json.dumps({"schema": text}),
                headers=HEADERS,
                timeout=40,
            )
            if answer.status_code == 200:
                schema_id: int = answer.json()["id"]
                return schema_id
            assert answer.status_code >= 500, answer.text
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{subject} never acknowledged"
        time.sleep(0.2)


@pytest.fixture
def pair(kafka_bootstrap: str, topic_name: str) -> Iterator[tuple[Instance, Instance]]:
    topic, group = f"_schemas-{topic_name}", f"g-{topic_name}"
    first = Instance(kafka_bootstrap, topic, group)
    wait_for(
        lambda: (first.health() or {}).get("writer") is True, 60, "the first instance to be elected"
    )
    second = Instance(kafka_bootstrap, topic, group)

    # the second member's join rebalances the group, and the writer may move to it: wait until
    # the election settles with exactly one writer, then hand out (writer, follower)
    def roles() -> list[object]:
        return [(i.health() or {}).get("writer") for i in (first, second)]

    # the group may rebalance more than once while the second member joins: the roles count as
    # settled once the same single writer is seen for 3 s running
    settled: list[object] = []
    since = [time.monotonic()]

    def stable() -> bool:
        now = roles()
        if sorted(map(bool, now)) != [False, True] or None in now or now != settled:
            settled[:] = now
            since[0] = time.monotonic()
            return False
        return time.monotonic() - since[0] >= 3.0

    wait_for(stable, 90, "one writer and one follower, for 3 s")
    writer, follower = (first, second) if settled[0] else (second, first)
    yield writer, follower
    first.stop()
    second.stop()


def test_follower_forwards_and_both_agree(pair: tuple[Instance, Instance]) -> None:
    _writer, follower = pair
    assert (follower.health() or {}).get("writer") is False
    ids = [register_until_acknowledged(follower.url, f"s{i}", schema(i % 3)) for i in range(6)]
    assert ids == [1, 2, 3, 1, 2, 3]
    for i, schema_id in enumerate(ids):
        for instance in pair:
            got = httpx.get(f"{instance.url}/subjects/s{i}/versions/1").json()
            assert got["id"] == schema_id


def test_killing_the_writer_mid_traffic_loses_nothing(pair: tuple[Instance, Instance]) -> None:
    writer, survivor = pair
    acknowledged: dict[str, int] = {}
    for i in range(40):
        if i == 10:
            writer.process.send_signal(signal.SIGKILL)
        acknowledged[f"k{i}"] = register_until_acknowledged(survivor.url, f"k{i}", schema(i))
    wait_for(
        lambda: (survivor.health() or {}).get("writer") is True, 60, "the survivor to take over"
    )
    for subject, schema_id in acknowledged.items():
        got = httpx.get(f"{survivor.url}/subjects/{subject}/versions/latest").json()
        assert got["id"] == schema_id
    assert sorted(acknowledged.values()) == list(range(1, 41))  # distinct schemas, no id reused
