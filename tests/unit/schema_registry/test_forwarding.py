"""A follower forwards writes to the writer's URL and answers reads itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from strangler.schema_registry.app import create_app
from strangler.schema_registry.forwarding import WriteForwarder, is_write
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.server import ServerThread
from strangler.schema_registry.sqlite_storage import SqliteStorage
from tests.unit.schema_registry.conftest import Api, expect_error

pytestmark = pytest.mark.unit


@dataclass
class FixedLeadership:
    """The election's answer, fixed for the test (the election itself needs Kafka)."""

    is_leader: bool
    leader_url: str | None


@pytest.fixture
def follower(tmp_path: Path, server: ServerThread) -> Iterator[tuple[Api, FixedLeadership]]:
    leadership = FixedLeadership(False, server.url)
    registry = SchemaRegistry(SqliteStorage(tmp_path / "follower.db"))
    thread = ServerThread(create_app(registry, forwarder=WriteForwarder(leadership))).start()
    yield Api(thread.url), leadership
    thread.stop()
    registry.close()


def test_writes_go_to_the_writer(follower: tuple[Api, FixedLeadership], api: Api) -> None:
    via_follower, _ = follower
    assert via_follower.register("a%2Fb", '"string"').json() == {"id": 1}
    assert api.get("/subjects").json() == ["a/b"]
    assert via_follower.put("/config/a%2Fb?x=1", {"compatibility": "NONE"}).json() == {
        "compatibility": "NONE"
    }
    assert api.get("/config/a%2Fb").json() == {"compatibilityLevel": "NONE"}
    assert via_follower.delete("/subjects/a%2Fb").json() == [1]
    expect_error(via_follower.register("bad%01", '"int"'), 422, 42208)  # the writer's answer


def test_reads_stay_local(follower: tuple[Api, FixedLeadership], api: Api) -> None:
    via_follower, _ = follower
    api.register("s", '"int"')
    expect_error(via_follower.get("/subjects/s/versions"), 404, 40401)  # its own (empty) store
    body = {"schema": json.dumps("int")}
    assert via_follower.post("/compatibility/subjects/s/versions/latest", body).json() == {
        "is_compatible": True
    }


def test_unknown_or_unreachable_writer(follower: tuple[Api, FixedLeadership]) -> None:
    via_follower, leadership = follower
    leadership.leader_url = None
    expect_error(via_follower.register("s", '"int"'), 500, 50004)
    leadership.leader_url = "http://127.0.0.1:9"
    expect_error(via_follower.register("s", '"int"'), 500, 50003)


@pytest.mark.parametrize(
    ("method", "path", "write"),
    [
        ("POST", "/subjects/s/versions", True),
        ("POST", "/subjects/s", False),
        ("POST", "/compatibility/subjects/s/versions/latest", False),
        ("DELETE", "/subjects/s", True),
        ("PUT", "/config", True),
        ("PUT", "/mode/s", True),
        ("GET", "/config", False),
    ],
)
def test_which_requests_are_writes(method: str, path: str, write: bool) -> None:
    assert is_write(method, path) is write
