"""Apache Kafka in KRaft combined mode, from jars resolved out of Maven Central, run with java."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path

from strangler.cli.devstack.errors import DevStackError, ServiceStartFailed
from strangler.cli.devstack.prereqs import java_program, maven_program
from strangler.cli.devstack.process import Deadline, ProcessRecord, port_open, run, terminate
from strangler.cli.devstack.service import SpawnedService
from strangler.cli.devstack.settings import HOST

# Single node: every internal topic gets replication factor 1, or transactions, consumer-group
# offsets and share groups fail with INVALID_REPLICATION_FACTOR. Topics are never auto-created:
# strangler creates its topics with the right cleanup policy, and a typo should fail loudly.
SERVER_PROPERTIES = """# strangler dev stack: single-node KRaft, broker and controller together
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=2
"""

JVM_OPTIONS = [
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


def cache_root() -> Path:
    """Where resolved jars live, outside any repository, shared by all stacks of this user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "strangler"


def new_cluster_id() -> str:
    """A random id in Kafka's Uuid text form: URL-safe base64 of 16 bytes, unpadded, 22 chars.
    Kafka rejects ids that start with '-' (they read as command-line flags)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


class Kafka(SpawnedService):
    """One broker+controller in <base>/kafka; jars in the user's cache."""

    name = "kafka"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    @property
    def libs(self) -> Path:
        return cache_root() / f"kafka-{self.settings.kafka_version}" / "libs"

    def prepare(self) -> None:
        java_program()
        self.ensure_jars()

    def endpoint(self) -> str:
        return f"{HOST}:{self.settings.kafka_port}"

    def env(self) -> dict[str, str]:
        return {"STRANGLER_KAFKA_BOOTSTRAP": self.endpoint()}

    def ensure_jars(self) -> None:
        """Resolve the broker's runtime class path with Maven, once per Kafka version."""
        marker = self.libs / ".complete"
        if marker.exists():
            return
        mvn = maven_program()
        with tempfile.TemporaryDirectory(prefix="strangler-kafka-pom-") as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_bytes(
                resources.files("strangler.cli.devstack").joinpath("kafka-pom.xml").read_bytes()
            )
            staging = self.libs.with_name("libs.partial")
            shutil.rmtree(staging, ignore_errors=True)
            result = run(
                [
                    str(mvn),
                    "-B",
                    "-q",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}",
                    f"-Dkafka.version={self.settings.kafka_version}",
                ],
                cwd=tmp,
            )
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
                raise DevStackError(
                    f"Maven could not resolve Kafka {self.settings.kafka_version}:\n{tail}",
                    fix="check that Maven Central is reachable and the version exists "
                    "(STRANGLER_KAFKA_VERSION)",
                )
            shutil.rmtree(self.libs, ignore_errors=True)
            staging.rename(self.libs)
            marker.touch()

    def start(self) -> None:
        if self.pid() is not None:
            return
        s = self.settings
        self.ensure_ports_free(
            {s.kafka_port: "--kafka-port", s.kafka_controller_port: "--kafka-controller-port"}
        )
        self.prepare()
        props = self._write_config()
        self._format(props)
        pid = self.spawn(
            [*self._java(), f"-Dkafka.logs.dir={self.home / 'logs'}", "kafka.Kafka", str(props)],
            self.log,
        )
        self._await_ready(pid)

    def _java(self) -> list[str]:
        log4j = resources.files("strangler.cli.devstack").joinpath("log4j2.properties")
        return [
            str(java_program()),
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(
            SERVER_PROPERTIES.format(
                host=HOST,
                port=self.settings.kafka_port,
                controller_port=self.settings.kafka_controller_port,
                data=self.home / "data",
            )
        )
        return props

    def _format(self, props: Path) -> None:
        """Format the storage once, with a cluster id of our own (idempotent)."""
        if (self.home / "data" / "meta.properties").exists():
            return
        id_file = self.home / "cluster.id"
        if not id_file.exists():
            id_file.write_text(new_cluster_id())
        result = run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                id_file.read_text().strip(),
                "-c",
                str(props),
                "--ignore-formatted",
            ]
        )
        if result.returncode != 0:
            raise ServiceStartFailed(
                self.name, f"formatting the storage failed:\n{result.stdout}{result.stderr}", None
            )

    def _await_ready(self, pid: int, timeout: float = 90.0) -> None:
        """Ready when a real client call (listing topics) answers, not when a log line appears.
        While the broker keeps writing its log (recovering its logs after an unclean stop) the
        wait goes on past ``timeout``, up to 15 minutes."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        started = time.monotonic()
        deadline = Deadline(self.log, timeout)
        while deadline.open():
            if ProcessRecord.of(pid) is None:
                raise ServiceStartFailed(self.name, "the broker exited", self.log)
            if port_open(self.settings.kafka_port):
                try:
                    admin = AdminClient({"bootstrap.servers": self.endpoint()})
                    admin.list_topics(timeout=5)
                    return
                except KafkaException:
                    pass
            time.sleep(0.2)
        record = ProcessRecord.of(pid)
        if record is not None:
            terminate(record)
        waited = time.monotonic() - started
        raise ServiceStartFailed(self.name, f"not ready after {waited:.0f} s", self.log)
