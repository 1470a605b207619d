#!/usr/bin/env bash
# Installs what strangler's local stack needs on a Debian-family machine:
# PostgreSQL (server), MariaDB (server), a Java 17+ runtime and Maven (to resolve Kafka's jars),
# and a C compiler with Python's and SQLite's headers (strangler's native hot paths are built on
# install).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
have_pg() { command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_pg || need+=(postgresql postgresql-contrib)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server mariadb-client)
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then need+=(openjdk-17-jre-headless); fi
command -v mvn >/dev/null || need+=(maven)
command -v gcc >/dev/null || need+=(gcc)
python_headers() { "${PYTHON:-python3}" -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; }
python_headers || need+=(python3-dev)
# the SQLite view's fused apply links the SQLite library the sqlite3 module uses
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)

if [ ${#need[@]} -eq 0 ]; then
  echo "system prerequisites: all present"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "missing: ${need[*]} (install them with your package manager; this script knows apt only)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${need[*]}"
$SUDO apt-get update -qq
# policy-rc.d may forbid starting services (containers): strangler starts its own servers anyway
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system prerequisites: installed"
