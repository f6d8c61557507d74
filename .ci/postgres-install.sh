#!/usr/bin/env bash
# PostgreSQL 15 (Debian package) for the ledger's PostgreSQL tests (#12).  The tests run
# initdb and pg_ctl themselves, as an unprivileged user, in a temp folder: no cluster is
# created or started here.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "postgresql: already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
$SUDO apt-get update -qq >/dev/null
# postgresql-common would create and start a "main" cluster; the tests need none.
$SUDO mkdir -p /etc/postgresql-common/createcluster.conf.d
echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf.d/civicpost.conf \
  >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
echo "postgresql: installed"
