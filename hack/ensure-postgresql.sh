#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are installed: the store's tests start a real server.
# Installs Debian's postgresql package when they are missing and this user may (root with apt).
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null; then
  exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "ensure-postgresql: installing Debian's postgresql package" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
  exit 0
fi
echo "ensure-postgresql: PostgreSQL is not installed; install it (e.g. apt-get install postgresql) and run again" >&2
exit 1
