#!/usr/bin/env bash
# End-to-end demo on a fresh machine (Python ≥ 3.10 and PyPI only): vendor sandbox → tap →
# Meltano → embedded PostgreSQL. Prints, per stream, the RECORD messages the tap emitted next to
# the rows that landed in PostgreSQL, and fails when any differs or nothing was emitted.
#
#   bash scripts/demo.sh                      # `make demo`
#   bash scripts/demo.sh --warehouse-tests    # `make warehouse-test`: + types, keys, BATCH,
#                                             #   Meltano's S3 state backend (sync.yml's set-up)
#
# Both show the state Meltano stored after the run and a second run resuming from it.
#
# Logs: output/demo/. The sandbox and PostgreSQL are stopped on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
LOGS=$ROOT/output/demo
API_PORT=${SANDBOX_API_PORT:-8750}
DOWNLOAD_PORT=${SANDBOX_DOWNLOAD_PORT:-8751}
S3_PORT=${SANDBOX_S3_PORT:-8752}
WAREHOUSE_TESTS=$([ "${1:-}" = "--warehouse-tests" ] && echo 1 || true)
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.jsonl
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_ENVIRONMENT=dev
export PYTHONWARNINGS=ignore
VPY=$ROOT/.venv/bin/python
MELTANO=$ROOT/.venv-meltano/bin/meltano
warehouse() { "$VPY" "$ROOT/scripts/warehouse.py" "$@"; }
# Change the running sandbox's scenario (POST /_sandbox/scenario), e.g. profiles erased.
scenario() {
  "$VPY" -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), {"Content-Type": "application/json"}))' \
    "http://127.0.0.1:$API_PORT/_sandbox/scenario" "$1"
}

t0=$(date +%s); ts=$t0
step() {
  local now; now=$(date +%s)
  [ "$ts" = "$t0" ] || printf '    (%ss)\n' "$((now - ts))"
  ts=$now
  printf '\n==> %s\n' "$*"
}
fail() { echo "FAIL: $*" >&2; echo "Logs: $LOGS/" >&2; exit 1; }
show() { echo "---- last lines of $1" >&2; tail -n "${2:-25}" "$1" >&2 || true; fail "see $1"; }

cleanup() {
  local rc=$?
  if [ -n "${SANDBOX_PID:-}" ] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
    kill -TERM "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
  fi
  [ -x "$VPY" ] && warehouse stop >/dev/null 2>&1 || true
  echo "Logs: $LOGS/  (total $(( $(date +%s) - t0 ))s, exit $rc)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "Logs: $LOGS/"

step "Installing the tap and dev tools (.venv) and Meltano 4.4.1 (.venv-meltano)"
make --no-print-directory venv >"$LOGS/install.log" 2>&1 || show "$LOGS/install.log"
if ! .venv-meltano/bin/python -c "import boto3" 2>/dev/null; then
  # Meltano in its own venv: it pins SQLAlchemy < 2.1 and ~70 other packages; the tap runs in
  # the plugin venv Meltano builds for it (.meltano/extractors/…), never in this one. The s3
  # extra is the S3 state backend (.github/workflows/sync.yml; tested by --warehouse-tests).
  { [ -x .venv-meltano/bin/pip ] || "$PYTHON" -m venv .venv-meltano; } >>"$LOGS/install.log" 2>&1
  .venv-meltano/bin/pip install -q -c constraints/meltano.txt "meltano[s3]==4.4.1" >>"$LOGS/install.log" 2>&1 \
    || show "$LOGS/install.log"
fi
"$MELTANO" --version

step "Starting the vendor sandbox on 127.0.0.1:$API_PORT (API) and :$DOWNLOAD_PORT (downloads), S3 API on :$S3_PORT"
"$VPY" -m sandbox --api-port "$API_PORT" --download-port "$DOWNLOAD_PORT" --s3-port "$S3_PORT" \
  >"$LOGS/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 100); do
  grep -q "sandbox api=" "$LOGS/sandbox.log" 2>/dev/null && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || show "$LOGS/sandbox.log"   # port in use? SANDBOX_API_PORT=…
  sleep 0.1
done
grep "sandbox api=" "$LOGS/sandbox.log" || show "$LOGS/sandbox.log"
# meltano.yml's dev environment points at 127.0.0.1:8750; follow SANDBOX_API_PORT if it differs.
export TAP_PROFILE_EXPORT_BATCH_API_URL=http://127.0.0.1:$API_PORT
export TAP_PROFILE_EXPORT_APSIS_API_URL=http://127.0.0.1:$API_PORT
export TAP_PROFILE_EXPORT_BRAZE_REST_ENDPOINT=http://127.0.0.1:$API_PORT

step "Starting the embedded PostgreSQL (fresh data dir .pg/)"
warehouse stop >/dev/null 2>&1 || true
rm -rf .pg
TARGET_POSTGRES_SQLALCHEMY_URL=$(warehouse start 2>"$LOGS/warehouse.log") || show "$LOGS/warehouse.log"
export TARGET_POSTGRES_SQLALCHEMY_URL
echo "$TARGET_POSTGRES_SQLALCHEMY_URL"

step "meltano install"
"$MELTANO" install >"$LOGS/meltano-install.log" 2>&1 || show "$LOGS/meltano-install.log"
# A fresh database means a fresh start: forget the state of earlier demo runs.
"$MELTANO" state clear --force dev:tap-profile-export-to-target-postgres >/dev/null 2>&1 || true

# Events of the last 30 days (the sandbox's history); the default would be the vendor maximum.
TAP_PROFILE_EXPORT_START_DATE=$("$VPY" -c "import datetime as d; print((d.datetime.now(d.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - d.timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
export TAP_PROFILE_EXPORT_START_DATE

step "meltano invoke tap-profile-export (counting the RECORD messages it emits)"
"$MELTANO" invoke tap-profile-export >"$LOGS/tap-output.jsonl" 2>"$LOGS/tap-invoke.log" \
  || show "$LOGS/tap-invoke.log"

step "meltano run tap-profile-export target-postgres"
"$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run.log" 2>&1 \
  || show "$LOGS/meltano-run.log" 40

step "Records emitted vs rows in PostgreSQL (schema profile_export)"
"$VPY" scripts/compare_counts.py "$LOGS/tap-output.jsonl" profile_export \
  || fail "row counts differ from the records the tap emitted"

step "APSIS ids by name: events joined to apsis_event_types, profiles.attributes keys to apsis_attributes (scripts/apsis_names.sql)"
sed 's/^/    /' scripts/apsis_names.sql
warehouse psql "$(cat scripts/apsis_names.sql)" || fail "scripts/apsis_names.sql failed"

step "A Braze workspace that exports to its own bucket (sandbox S3 API): meltano run tap-profile-export--braze-bucket target-postgres"
# The read-only `tap` IAM user's AWS_* variables, as a scheduler would provide them, and
# AWS_ENDPOINT_URL_S3 (the standard variable for an S3-compatible store: the sandbox's).
mapfile -t TAP_S3 < <("$VPY" scripts/s3_state.py env "$LOGS/sandbox.log" tap)
[ "${#TAP_S3[@]}" -gt 0 ] || fail "no S3 credentials in $LOGS/sandbox.log"
scenario '{"braze": {"users_per_file": 30}}'   # several files, written one by one
env "${TAP_S3[@]}" "$MELTANO" invoke tap-profile-export--braze-bucket \
  >"$LOGS/tap-output-bucket.jsonl" 2>"$LOGS/tap-invoke-bucket.log" || show "$LOGS/tap-invoke-bucket.log"
grep -o "complete: [0-9]* file(s)[^,]*" "$LOGS/tap-invoke-bucket.log" | head -1 \
  || show "$LOGS/tap-invoke-bucket.log"
env "${TAP_S3[@]}" "$MELTANO" run tap-profile-export--braze-bucket target-postgres \
  >"$LOGS/meltano-run-bucket.log" 2>&1 || show "$LOGS/meltano-run-bucket.log" 40
"$VPY" scripts/compare_counts.py "$LOGS/tap-output-bucket.jsonl" profile_export \
  || fail "braze_users_bucket rows differ from the records the tap emitted"

STATE_ID=dev:tap-profile-export-to-target-postgres
step "The state Meltano stored ($STATE_ID; bookmarks and in-flight exports, never handles or URLs)"
"$MELTANO" state get "$STATE_ID" 2>>"$LOGS/meltano-state.log" | "$VPY" scripts/state_summary.py \
  || show "$LOGS/meltano-state.log"

step "Second run, resuming from the stored state (events: overlap before each bookmark + new)"
before=$("$VPY" scripts/warehouse_checks.py counts profile_export)
"$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run-2.log" 2>&1 \
  || show "$LOGS/meltano-run-2.log" 40
grep -q "Reading state from" "$LOGS/meltano-run-2.log" \
  || fail "the second run did not read the stored state"
grep -o "  - [a-z]* [a-z]* export \[[^)]*)" "$LOGS/meltano-run-2.log" | sort -u || true
"$MELTANO" state get "$STATE_ID" 2>>"$LOGS/meltano-state.log" | "$VPY" scripts/state_summary.py
after=$("$VPY" scripts/warehouse_checks.py counts profile_export)
echo "rows before: $before"; echo "rows after:  $after"
[ "$before" = "$after" ] || fail "the second run changed row counts (re-read events are upserted)"

if [ -n "$WAREHOUSE_TESTS" ]; then
  step "Warehouse: column types and primary keys"
  "$VPY" scripts/warehouse_checks.py types profile_export
  "$VPY" scripts/warehouse_checks.py unique profile_export
  "$VPY" scripts/warehouse_checks.py names profile_export     # apsis_names.sql names every id
  "$VPY" scripts/warehouse_checks.py deleted profile_export   # nothing deleted at the vendor yet

  step "Warehouse: deleted profiles and definitions (the sandbox erases one Batch and one APSIS profile, one Braze user and the APSIS attribute attr.city)"
  scenario '{"batch": {"deleted": [3]}, "apsis": {"deleted": [5], "deleted_definitions": ["attr.city"]}, "braze": {"deleted": [7]}}'
  "$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run-deletes.log" 2>&1 \
    || show "$LOGS/meltano-run-deletes.log" 40
  grep -q "ACTIVATE_VERSION" "$LOGS/meltano-run-deletes.log" \
    || fail "no ACTIVATE_VERSION logged by the tap"
  DELETED=(profiles:batch/profile_0000003 profiles:apsis/pk-000005 braze_users:user-7
           apsis_attributes:com.example.shop/attr.city apsis_attributes:com.example.blog/attr.city)
  "$VPY" scripts/warehouse_checks.py deleted profile_export "${DELETED[@]}"
  after_deletes=$("$VPY" scripts/warehouse_checks.py counts profile_export)
  [ "$after_deletes" = "$after" ] || fail "soft deletes changed row counts: $after_deletes"

  step "Warehouse: a run in which Batch's export fails marks nothing deleted (APSIS erases one more)"
  scenario '{"batch": {"export_error": true}, "apsis": {"deleted": [5, 6]}}'
  if "$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run-failed.log" 2>&1; then
    fail "the run with a failing Batch export succeeded"
  fi
  grep -q "profiles: no ACTIVATE_VERSION this run" "$LOGS/meltano-run-failed.log" \
    || show "$LOGS/meltano-run-failed.log" 40
  "$VPY" scripts/warehouse_checks.py deleted profile_export "${DELETED[@]}"
  scenario '{"batch": {"export_error": false}}'

  step "Warehouse: one-vendor extractors into the same tables never delete another vendor's rows"
  for vendor in batch braze; do
    "$MELTANO" state clear --force "dev:tap-profile-export--$vendor-to-target-postgres" >/dev/null 2>&1 || true
    "$MELTANO" run "tap-profile-export--$vendor" target-postgres >"$LOGS/meltano-run-$vendor-pg.log" 2>&1 \
      || show "$LOGS/meltano-run-$vendor-pg.log" 40
  done
  grep -q "source apsis is not configured in this run" "$LOGS/meltano-run-batch-pg.log" \
    || show "$LOGS/meltano-run-batch-pg.log" 40
  "$VPY" scripts/warehouse_checks.py deleted profile_export "${DELETED[@]}"

  step "Warehouse: a complete run again marks the pending APSIS erasure deleted"
  "$MELTANO" run tap-profile-export target-postgres >"$LOGS/meltano-run-recovered.log" 2>&1 \
    || show "$LOGS/meltano-run-recovered.log" 40
  "$VPY" scripts/warehouse_checks.py deleted profile_export "${DELETED[@]}" profiles:apsis/pk-000006
  [ "$("$VPY" scripts/warehouse_checks.py counts profile_export)" = "$after" ] \
    || fail "row counts changed"
  # The later steps compare with the first run's records: the sandbox serves everyone again.
  scenario '{"batch": {"deleted": []}, "apsis": {"deleted": [], "deleted_definitions": []}, "braze": {"deleted": []}}'

  step "One-vendor extractors → target-jsonl (other vendors' secrets set in the env must not leak in)"
  declare -A SECRET=([batch]=TAP_PROFILE_EXPORT_BATCH_API_KEY
                     [apsis]=TAP_PROFILE_EXPORT_APSIS_CLIENT_SECRET
                     [braze]=TAP_PROFILE_EXPORT_BRAZE_API_KEY)
  mkdir -p output
  split_total=0
  for vendor in batch apsis braze; do
    others=()
    for other in batch apsis braze; do
      [ "$other" = "$vendor" ] || others+=("${SECRET[$other]}=secret-of-another-vendor")
    done
    "$MELTANO" state clear --force "dev:tap-profile-export--$vendor-to-target-jsonl" >/dev/null 2>&1 || true
    rm -f output/*.jsonl
    env "${others[@]}" "$MELTANO" run "tap-profile-export--$vendor" target-jsonl \
      >"$LOGS/meltano-run-$vendor.log" 2>&1 || show "$LOGS/meltano-run-$vendor.log" 40
    n=$(cat output/*.jsonl 2>/dev/null | wc -l)
    printf '    tap-profile-export--%-6s %6s records  (state id dev:tap-profile-export--%s-to-target-jsonl)\n' \
      "$vendor" "$n" "$vendor"
    [ "$n" -gt 0 ] || fail "tap-profile-export--$vendor wrote no records"
    split_total=$((split_total + n))
  done
  echo "    one-vendor total: $split_total records (all-vendor run: $(grep -c '"RECORD"' "$LOGS/tap-output.jsonl"))"

  step "Warehouse: Singer BATCH messages (jsonl.gz, local storage) into schema profile_export_batch"
  mkdir -p "$LOGS/batches"
  TAP_PROFILE_EXPORT_BATCH_CONFIG="{\"encoding\": {\"format\": \"jsonl\", \"compression\": \"gzip\"}, \"storage\": {\"root\": \"file://$LOGS/batches\", \"prefix\": \"batch-\"}, \"batch_size\": 500}" \
  TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=profile_export_batch \
    "$MELTANO" run --full-refresh tap-profile-export target-postgres >"$LOGS/meltano-run-batch.log" 2>&1 \
    || show "$LOGS/meltano-run-batch.log" 40
  "$VPY" scripts/compare_counts.py "$LOGS/tap-output.jsonl" profile_export_batch \
    || fail "BATCH load: row counts differ from the records the tap emitted"
  "$VPY" scripts/warehouse_checks.py types profile_export_batch

  # Exactly .github/workflows/sync.yml's state set-up: MELTANO_STATE_BACKEND_URI and the AWS
  # credentials chain (there: OIDC's AWS_* variables; here: the sandbox's `meltano` user), plus
  # the endpoint, as for any S3-compatible store (Meltano 4.4.1 ignores
  # state_backend.s3.endpoint_url unless its keys are set in Meltano too).
  STATE_URI=s3://meltano-state/tap-profile-export/state
  S3_STATE_ID=dev:tap-profile-export--batch-to-target-postgres
  S3_SCHEMA=profile_export_s3state
  mapfile -t MELTANO_S3 < <("$VPY" scripts/s3_state.py env "$LOGS/sandbox.log" meltano)
  [ "${#MELTANO_S3[@]}" -gt 0 ] || fail "no S3 credentials in $LOGS/sandbox.log"
  s3state() {
    env "${MELTANO_S3[@]}" MELTANO_STATE_BACKEND_URI="$STATE_URI" \
      TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="$S3_SCHEMA" "$@"
  }
  step "Meltano's S3 state backend (sync.yml's set-up, sandbox S3 API): a run writes its state to $STATE_URI"
  s3state "$MELTANO" run tap-profile-export--batch target-postgres \
    >"$LOGS/meltano-run-s3state-1.log" 2>&1 || show "$LOGS/meltano-run-s3state-1.log" 40
  grep -q "Writing state to AWS S3" "$LOGS/meltano-run-s3state-1.log" \
    || fail "the run did not write its state to the S3 backend"
  "$VPY" scripts/s3_state.py object "$LOGS/sandbox.log" "$STATE_URI" "$S3_STATE_ID" \
    >"$LOGS/s3-state-1.json" || fail "no state object in $STATE_URI"
  # sync.yml's step "State this run starts from", as it runs there
  s3state "$MELTANO" state get "$S3_STATE_ID" 2>>"$LOGS/meltano-state.log" \
    | "$VPY" scripts/state_summary.py || show "$LOGS/meltano-state.log"
  s3_before=$("$VPY" scripts/warehouse_checks.py counts "$S3_SCHEMA")

  step "Meltano's S3 state backend: the next run reads its state from there and resumes"
  s3state "$MELTANO" run tap-profile-export--batch target-postgres \
    >"$LOGS/meltano-run-s3state-2.log" 2>&1 || show "$LOGS/meltano-run-s3state-2.log" 40
  grep -q "Reading state from AWS S3" "$LOGS/meltano-run-s3state-2.log" \
    || fail "the second run did not read its state from the S3 backend"
  "$VPY" scripts/s3_state.py resumed "$LOGS/s3-state-1.json" "$LOGS/meltano-run-s3state-2.log" \
    || show "$LOGS/meltano-run-s3state-2.log" 40
  "$VPY" scripts/warehouse_checks.py unique "$S3_SCHEMA"
  s3_after=$("$VPY" scripts/warehouse_checks.py counts "$S3_SCHEMA")
  echo "rows before: $s3_before"; echo "rows after:  $s3_after"
  [ "$s3_before" = "$s3_after" ] || fail "the resumed run changed row counts"

  UPGRADE=profile_export_upgrade
  step "Warehouse: a braze_users table loaded by 0.1.0 (arrays as jsonb[]) into $UPGRADE, converted with CHANGELOG.md's ALTER TABLE, then loaded again"
  upgrade_dir=$(mktemp -d)
  "$MELTANO" invoke --dump=config tap-profile-export--braze >"$upgrade_dir/tap.json" \
    2>>"$LOGS/upgrade.log" || show "$LOGS/upgrade.log"
  TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=$UPGRADE "$MELTANO" invoke --dump=config target-postgres \
    >"$upgrade_dir/target.json" 2>>"$LOGS/upgrade.log" || show "$LOGS/upgrade.log"
  # benchmarks/baselines.py array-columns: the tap with 0.1.0's braze_users schema
  "$VPY" benchmarks/baselines.py array-columns --config "$upgrade_dir/tap.json" 2>>"$LOGS/upgrade.log" \
    | .meltano/loaders/target-postgres/venv/bin/target-postgres --config "$upgrade_dir/target.json" \
      >/dev/null 2>>"$LOGS/upgrade.log" || show "$LOGS/upgrade.log" 40
  devices_type=$(warehouse psql "select data_type from information_schema.columns where
    table_schema = '$UPGRADE' and table_name = 'braze_users' and column_name = 'devices'")
  [[ $devices_type == *ARRAY* ]] || fail "the 0.1.0-schema load did not make devices jsonb[]"
  "$VPY" - "$UPGRADE" >"$upgrade_dir/upgrade.sql" <<'PY' || fail "no ALTER TABLE in CHANGELOG.md"
import re, sys
changelog = open("CHANGELOG.md").read()
sql = re.search(r"```sql\n\s*(ALTER TABLE <schema>\.braze_users.*?)\n\s*```", changelog, re.S)
print(sql.group(1).replace("<schema>", sys.argv[1]))
PY
  warehouse psql "$(cat "$upgrade_dir/upgrade.sql")" >>"$LOGS/upgrade.log" 2>&1 \
    || show "$LOGS/upgrade.log"
  TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=$UPGRADE "$MELTANO" run tap-profile-export--braze \
    target-postgres >"$LOGS/meltano-run-upgrade.log" 2>&1 || show "$LOGS/meltano-run-upgrade.log" 40
  "$VPY" scripts/warehouse_checks.py arrays $UPGRADE
  rm -rf "$upgrade_dir"
fi

step "The vendor sandbox refused no request (a real vendor would have refused it too)"
"$VPY" - "$API_PORT" <<'PY' || fail "the tap sent requests the vendors refuse (see above)"
import json, sys, urllib.request
refused = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_sandbox/refused"))
for r in refused[:10]:
    print(f"    HTTP 400: {r['method']} {r['path']} {json.dumps(r['json'])[:200]}")
print(f"    {len(refused)} refused request(s)")
sys.exit(1 if refused else 0)
PY
step "Done"
