#!/usr/bin/env bash
# Start the machine's PostgreSQL (if installed) and make sure the test role and database
# exist; print `export ONCALL_TEST_POSTGRES_URL=...` for the caller to eval.
# Prints nothing (and the PostgreSQL tests skip locally, or fail under CI=true) when no
# server is installed. Messages go to stderr.
set -u
url="${ONCALL_TEST_POSTGRES_URL:-}"
if [ -n "$url" ]; then echo "export ONCALL_TEST_POSTGRES_URL='$url'"; exit 0; fi
command -v pg_lsclusters >/dev/null 2>&1 || { echo "test-postgres: PostgreSQL not installed; its tests will not run" >&2; exit 0; }
cluster=$(pg_lsclusters --no-header 2>/dev/null | head -n1)
if [ -z "$cluster" ]; then echo "test-postgres: no PostgreSQL cluster" >&2; exit 0; fi
ver=$(echo "$cluster" | awk '{print $1}'); name=$(echo "$cluster" | awk '{print $2}'); port=$(echo "$cluster" | awk '{print $3}')
if ! echo "$cluster" | grep -q online; then
  pg_ctlcluster "$ver" "$name" start >&2 || { echo "test-postgres: cannot start cluster $ver/$name" >&2; exit 0; }
fi
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -n -u postgres sh -c "$1"; fi; }
for _ in $(seq 1 50); do as_pg "pg_isready -q -p $port" && break; sleep 0.2; done
# The chaos test reads when each acknowledgement committed (pg_xact_commit_timestamp): the
# audit row's own time is taken before the transaction, which may wait for a frozen
# instance's locks. The setting needs a restart; done once per cluster.
if [ "$(as_pg "psql -p $port -tAc 'SHOW track_commit_timestamp'")" != on ]; then
  as_pg "psql -p $port -qc 'ALTER SYSTEM SET track_commit_timestamp = on'" >&2 \
    && pg_ctlcluster "$ver" "$name" restart >&2 \
    || echo "test-postgres: cannot turn on track_commit_timestamp" >&2
  for _ in $(seq 1 50); do as_pg "pg_isready -q -p $port" && break; sleep 0.2; done
fi
as_pg "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='oncall'\"" | grep -q 1 \
  || as_pg "psql -p $port -qc \"CREATE ROLE oncall LOGIN PASSWORD 'oncall' CREATEDB\"" >&2
as_pg "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='oncall_test'\"" | grep -q 1 \
  || as_pg "createdb -p $port -O oncall oncall_test" >&2
echo "export ONCALL_TEST_POSTGRES_URL='postgresql+psycopg://oncall:oncall@127.0.0.1:$port/oncall_test'"
