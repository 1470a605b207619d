"""Benchmark the registry: GET /schemas/ids/{id} under 100 concurrent keep-alive clients, and
registration throughput. The server runs in its own process (SQLite storage, no access log),
the load generator here speaks raw HTTP/1.1 over asyncio so that it costs little CPU.

    .venv/bin/python benchmarks/registry_bench.py --seconds 10 --clients 100

Prints requests/s, p50/p99 latency, errors, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SERVER = """
import sys
from strangler.schema_registry.config import RegistrySettings, StorageKind
from strangler.schema_registry.server import serve
port, db, bootstrap, topic = sys.argv[1:5]
storage = StorageKind.KAFKA if bootstrap else StorageKind.SQLITE
serve(RegistrySettings(port=int(port), sqlite_path=db, storage=storage, kafka_bootstrap=bootstrap,
                       topic=topic, group_id=topic + "-group", access_log=False))
"""


def start_server(port: int, db: Path, bootstrap: str) -> subprocess.Popen[bytes]:
    topic = f"_schemas-bench-{os.getpid()}-{int(time.time())}"
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(db), bootstrap, topic])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("registry server did not start")


def schema(i: int) -> str:
    fields = [
        {"name": "id", "type": "long"},
        {"name": f"f{i}", "type": ["null", "string"], "default": None},
    ]
    return json.dumps(
        {"type": "record", "name": f"Bench{i}", "namespace": "bench", "fields": fields}
    )


def wait_until_writer(url: str) -> None:
    deadline = time.monotonic() + 60
    while not httpx.get(f"{url}/health").json().get("writer"):
        if time.monotonic() > deadline:
            raise SystemExit("no writer elected")
        time.sleep(0.2)


def register(url: str, count: int) -> tuple[list[int], float]:
    ids: list[int] = []
    started = time.perf_counter()
    with httpx.Client(base_url=url) as client:
        for i in range(count):
            body = json.dumps({"schema": schema(i)})
            headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
            ids.append(
                client.post(
                    f"/subjects/bench-{i}-value/versions", content=body, headers=headers
                ).json()["id"]
            )
    return ids, time.perf_counter() - started


async def one_client(
    port: int, ids: list[int], stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    while time.perf_counter() < stop_at:
        schema_id = ids[n % len(ids)]
        n += 1
        started = time.perf_counter()
        writer.write(
            f"GET /schemas/ids/{schema_id} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(1)
    writer.close()


async def load(
    port: int, ids: list[int], clients: int, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors: list[int] = []
    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(one_client(port, ids, stop_at, latencies, errors) for _ in range(clients))
    )
    return latencies, len(errors), time.perf_counter() - started


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(int(len(sorted_values) * q), len(sorted_values) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--schemas", type=int, default=200)
    parser.add_argument(
        "--kafka-bootstrap", default="", help="use Kafka storage (a fresh topic) instead of SQLite"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(args.port, Path(tmp) / "bench.db", args.kafka_bootstrap)
        try:
            run(args, server.pid)
        finally:
            server.terminate()
            server.wait(10)


def run(args: argparse.Namespace, pid: int) -> None:
    url = f"http://127.0.0.1:{args.port}"
    wait_until_writer(url)
    ids, took = register(url, args.schemas)
    print(
        f"registration: {args.schemas} schemas in {took:.2f}s"
        f" = {args.schemas / took:.0f} registrations/s"
    )
    asyncio.run(load(args.port, ids, args.clients, 1.0))  # warm-up
    server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
    latencies, errors, elapsed = asyncio.run(load(args.port, ids, args.clients, args.seconds))
    server_cpu, client_cpu = cpu_seconds(pid) - server_cpu, time.process_time() - client_cpu
    latencies.sort()
    print(
        f"GET /schemas/ids/{{id}}: {len(latencies)} requests,"
        f" {args.clients} clients, {elapsed:.1f}s:"
        f" {len(latencies) / elapsed:.0f} req/s, p50 {percentile(latencies, 0.5) * 1000:.2f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1000:.2f} ms, errors {errors}"
    )
    print(
        f"CPU during the run: server {server_cpu:.1f}s, load generator {client_cpu:.1f}s;"
        f" server cost {server_cpu / max(len(latencies), 1) * 1e6:.0f} us/request"
        f" = {len(latencies) / max(server_cpu, 1e-9):.0f} req/s per server core"
    )
    print(f"server peak RSS: {peak_rss_mib(pid):.1f} MiB (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
