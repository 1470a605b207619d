"""Finding the programs the local stack runs, with one clear message when one is missing."""

from __future__ import annotations

import os
import pwd
import re
import shutil
from pathlib import Path

from strangler.cli.devstack.errors import PrerequisiteMissing
from strangler.cli.devstack.process import run

INSTALL_HINT = (
    "run `bash scripts/install-system-deps.sh` (Debian/Ubuntu), or: apt-get install {pkgs}"
)


def missing(what: str, pkgs: str) -> PrerequisiteMissing:
    """The error for a program that is not installed, naming the packages that provide it."""
    return PrerequisiteMissing(f"{what} was not found", fix=INSTALL_HINT.format(pkgs=pkgs))


def postgres_bindir() -> Path:
    """The directory holding initdb and pg_ctl: pg_config's answer, else the newest Debian one."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = run([pg_config, "--bindir"]).stdout.strip()
        if out:
            candidates.append(Path(out))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    candidates.extend(debian)
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    raise missing("PostgreSQL server programs (initdb, pg_ctl)", "postgresql")


def _version_key(p: Path) -> int:
    digits = re.sub(r"\D", "", p.parent.name)
    return int(digits) if digits else 0


def mariadb_programs() -> tuple[Path, Path]:
    """(server, install_db) of MariaDB."""
    server = _first_program(["mariadbd", "/usr/sbin/mariadbd"])
    install = _first_program(["mariadb-install-db", "/usr/bin/mariadb-install-db"])
    if server is None or install is None:
        raise missing("MariaDB server (mariadbd, mariadb-install-db)", "mariadb-server")
    return server, install


def _first_program(names: list[str]) -> Path | None:
    for name in names:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return Path(found)
    return None


def java_program(min_major: int = 17) -> Path:
    """A java launcher of at least ``min_major`` (Kafka 4 needs 17)."""
    java = shutil.which("java")
    if java is None:
        raise missing(f"java (a JRE {min_major}+ for Kafka)", "openjdk-17-jre-headless")
    text = run([java, "-version"]).stderr
    match = re.search(r'version "(\d+)', text)
    major = int(match.group(1)) if match else 0
    if major < min_major:
        raise missing(f"java {min_major}+ (found {major or 'unknown'})", "openjdk-17-jre-headless")
    return Path(java)


def maven_program() -> Path:
    """mvn, used once to resolve Kafka's jars from Maven Central into a cache."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise missing("mvn (Maven, to fetch Kafka's jars)", "maven")
    return Path(mvn)


def service_user(name: str) -> str | None:
    """The account a server must run as: ``name`` when we are root (servers refuse root),
    else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise missing(f"the system user {name!r}", "postgresql mariadb-server") from exc
    return name


def as_user(user: str | None, argv: list[str]) -> list[str]:
    """Prefix ``argv`` so that it runs as ``user`` (root only)."""
    if user is None:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise missing("runuser (to run servers as their own user)", "util-linux")
    return [runuser, "-u", user, "--", *argv]
