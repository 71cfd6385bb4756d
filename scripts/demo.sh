#!/usr/bin/env bash
# End-to-end demo on a fresh machine: vendor sandbox → tap → embedded PostgreSQL via Meltano.
# Prints, per stream, the records the tap emitted next to the rows that landed; fails if any
# differs. Logs: output/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
LOGS=$ROOT/output/demo
mkdir -p "$LOGS"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export PYTHONWARNINGS=ignore

step() { printf '\n==> %s\n' "$*"; }

step "Installing the tap (.venv) and Meltano (.venv-meltano)"
make --no-print-directory venv >/dev/null
[ -x .venv-meltano/bin/meltano ] || {
  "$PYTHON" -m venv .venv-meltano
  .venv-meltano/bin/pip install -q meltano==4.4.1
}
MELTANO="$ROOT/.venv-meltano/bin/meltano"

cleanup() {
  [ -n "${SANDBOX_PID:-}" ] && kill "$SANDBOX_PID" 2>/dev/null || true
  .venv/bin/python scripts/warehouse.py stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "Starting the vendor sandbox on 127.0.0.1:8750 (API) and :8751 (downloads)"
.venv/bin/python -m tap_profile_export.sandbox --api-port 8750 --download-port 8751 \
  >"$LOGS/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 50); do grep -q "sandbox api=" "$LOGS/sandbox.log" 2>/dev/null && break; sleep 0.2; done
grep "sandbox api=" "$LOGS/sandbox.log"

step "Starting the embedded PostgreSQL (fresh data dir .pg/)"
.venv/bin/python scripts/warehouse.py stop >/dev/null 2>&1 || true
rm -rf .pg
TARGET_POSTGRES_SQLALCHEMY_URL=$(.venv/bin/python scripts/warehouse.py start 2>/dev/null | tail -1)
export TARGET_POSTGRES_SQLALCHEMY_URL
echo "$TARGET_POSTGRES_SQLALCHEMY_URL"

step "meltano install"
"$MELTANO" install >"$LOGS/meltano-install.log" 2>&1 || { tail -20 "$LOGS/meltano-install.log"; exit 1; }
"$MELTANO" state clear --force dev:tap-profile-export-to-target-postgres >/dev/null 2>&1 || true

# Events of the last 30 days (the sandbox's history); the default would be the vendor maximum.
export TAP_PROFILE_EXPORT_START_DATE
TAP_PROFILE_EXPORT_START_DATE=$(.venv/bin/python -c \
  "import datetime as d; print((d.datetime.now(d.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - d.timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ'))")

step "meltano invoke tap-profile-export (counting the records it emits)"
"$MELTANO" invoke tap-profile-export >"$LOGS/tap-output.jsonl" 2>"$LOGS/tap-invoke.log" \
  || { tail -20 "$LOGS/tap-invoke.log"; exit 1; }

step "meltano run tap-profile-export target-postgres"
"$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run.log" 2>&1 \
  || { tail -30 "$LOGS/meltano-run.log"; exit 1; }

step "Records emitted vs rows in PostgreSQL"
.venv/bin/python scripts/compare_counts.py "$LOGS/tap-output.jsonl" profile_export

if [ "${1:-}" = "--warehouse-tests" ]; then
  step "Warehouse: column types and primary keys"
  .venv/bin/python scripts/warehouse_checks.py types profile_export
  step "Warehouse: second run with the stored state (incremental events + snapshots)"
  before=$(.venv/bin/python scripts/warehouse_checks.py counts profile_export)
  "$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run-2.log" 2>&1 \
    || { tail -30 "$LOGS/meltano-run-2.log"; exit 1; }
  grep -q "Reading state from" "$LOGS/meltano-run-2.log" \
    || { echo "FAIL: the second run did not read the stored state"; exit 1; }
  after=$(.venv/bin/python scripts/warehouse_checks.py counts profile_export)
  echo "rows before: $before"; echo "rows after:  $after"
  [ "$before" = "$after" ] || { echo "FAIL: the second run changed row counts"; exit 1; }
  .venv/bin/python scripts/warehouse_checks.py unique profile_export
  step "Warehouse: Singer BATCH messages (jsonl.gz, local storage) into schema profile_export_batch"
  mkdir -p "$LOGS/batches"
  TAP_PROFILE_EXPORT_BATCH_CONFIG="{\"encoding\": {\"format\": \"jsonl\", \"compression\": \"gzip\"}, \"storage\": {\"root\": \"file://$LOGS/batches\", \"prefix\": \"batch-\"}, \"batch_size\": 500}" \
  TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=profile_export_batch \
    "$MELTANO" run --full-refresh tap-profile-export target-postgres >"$LOGS/meltano-run-batch.log" 2>&1 \
    || { tail -30 "$LOGS/meltano-run-batch.log"; exit 1; }
  .venv/bin/python scripts/compare_counts.py "$LOGS/tap-output.jsonl" profile_export_batch
  .venv/bin/python scripts/warehouse_checks.py types profile_export_batch
fi
