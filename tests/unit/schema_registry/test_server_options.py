"""Server options: HTTP basic auth, TLS, the structured access log."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strangler.schema_registry.app import create_app
from strangler.schema_registry.config import RegistrySettings
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.server import ServerThread

pytestmark = pytest.mark.unit


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def secured(registry: SchemaRegistry, tmp_path: Path) -> Iterator[ServerThread]:
    cert, key = self_signed(tmp_path)
    settings = RegistrySettings(port=0, tls_cert=cert, tls_key=key)
    app = create_app(registry, users={"alice": "s3cret"}, log_access=True)
    server = ServerThread(app, settings).start()
    yield server
    server.stop()


def test_tls_and_basic_auth(secured: ServerThread) -> None:
    assert secured.url.startswith("https://")
    with httpx.Client(base_url=secured.url, verify=False) as client:
        refused = client.get("/subjects")
        assert refused.status_code == 401
        assert refused.json() == {"error_code": 401, "message": "Unauthorized"}
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert client.get("/subjects", auth=("alice", "wrong")).status_code == 401
        assert client.get("/subjects", auth=("alice", "s3cret")).json() == []
        assert client.get("/health").status_code == 200  # probes need no password


def test_access_log_is_one_json_line_per_request(
    secured: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="strangler.schema_registry.access"):
        httpx.get(f"{secured.url}/subjects", auth=("alice", "s3cret"), verify=False)
    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "strangler.schema_registry.access"
    ]
    assert lines and lines[-1]["path"] == "/subjects" and lines[-1]["status"] == 200
    assert set(lines[-1]) == {"method", "path", "status", "ms", "client"}
