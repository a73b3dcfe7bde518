#!/usr/bin/env bash
# Load test of licence issuance and the public verification endpoints, on a release build with
# the embedded SQLite database (durable commits: WAL, synchronous=FULL). Uses wrk (Debian).
# Each endpoint runs RUNS times for DURATION; the median requests/s and the median p99 are
# reported, with /healthz in the same run as the baseline. Client and server share the machine.
#   usage: scripts/bench-licences.sh [DURATION=10s] [RUNS=3] [CONNECTIONS=64]
#   BENCH_DB=postgres: a fresh PostgreSQL database (TRUSTD_TEST_POSTGRES_URL, or the local
#   server) instead of SQLite. BENCH_JSON=FILE: the medians also as JSON lines in FILE.
#   BENCH_PRELOAD=N: at least N licences issued (through the API, as fast as it goes) before
#   measuring: the cost growth with a full database.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${1:-10s}"
RUNS="${2:-3}"
CONNECTIONS="${3:-64}"
BENCH_DB="${BENCH_DB:-sqlite}"
BENCH_JSON="${BENCH_JSON:-}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ -z "${TRUSTD_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --quiet --bin trustd)
  TRUSTD_BIN="$REPO/target/release/trustd"
fi
source "$REPO/scripts/lib.sh"
WORK=$(mktemp -d)
if [ "$BENCH_DB" = postgres ]; then
  PG_BASE="${TRUSTD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  PG_NAME="trustd_bench_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  psql -q "$PG_BASE" -c "CREATE DATABASE $PG_NAME"
  export TRUSTD_DATABASE_URL="${PG_BASE%/*}/$PG_NAME"
fi
cleanup() {
  stop_trustd
  if [ "$BENCH_DB" = postgres ]; then psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS $PG_NAME WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# The load comes from one address: the per-client limit on public endpoints is off here.
export TRUSTD_PUBLIC_RATE=0
RUST_LOG=error start_trustd "$WORK"

CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市公安局\"}" >/dev/null
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
TYPE=$(api POST /api/v1/licence-types '{"name":"居住证","holder_kind":"person","fields":[{"key":"address","label":"居住地址","required":true}],"validity_days":365}' "$OP" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["type_code"])')
BODY="{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"张三丰\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"},\"face\":{\"address\":\"福州市鼓楼区\"}}"
ID=$(api POST /api/v1/licences "$BODY" "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["identifier"])')

cat >"$WORK/issue.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $OP"
wrk.body = '$BODY'
LUA

# run NAME URL [SCRIPT]: prints "rps p99_ms non2xx" for each run, then the medians.
run() {
  local name="$1" url="$2" script="${3:-}"
  local results=()
  for _ in $(seq 1 "$RUNS"); do
    local out
    if [ -n "$script" ]; then
      out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")
    else
      out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
    fi
    local rps p99 bad
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    results+=("$rps ${p99:-0} ${bad:-0}")
  done
  printf '%s\n' "${results[@]}" | python3 -c "
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
rps = statistics.median(r[0] for r in rows); p99 = statistics.median(r[1] for r in rows)
bad = sum(r[2] for r in rows)
runs = ', '.join(f'{r[0]:.0f}' for r in rows)
print(f'$name: median {rps:.0f} req/s (runs: {runs}), median p99 {p99:.1f} ms, non-2xx {bad:.0f}')
if '$BENCH_JSON':
    import json
    with open('$BENCH_JSON', 'a') as f:
        f.write(json.dumps({'bench': 'licences', 'db': '$BENCH_DB', 'preload': int('${BENCH_PRELOAD:-0}'), 'name': '$name', 'rps': rps, 'p99_ms': p99, 'non_2xx': bad, 'runs': [r[0] for r in rows]}) + '\\n')
if bad:
    sys.exit('$name: a non-2xx answer was counted: not a valid measurement')"
}

count_licences() {
  if [ "$BENCH_DB" = sqlite ]; then
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from licences').fetchone()[0])" "$WORK/trustd.db"
  else
    psql -At "$TRUSTD_DATABASE_URL" -c "select count(*) from licences"
  fi
}
if [ -n "${BENCH_PRELOAD:-}" ]; then
  while [ "$(count_licences)" -lt "$BENCH_PRELOAD" ]; do
    wrk -t2 -c"$CONNECTIONS" -d30s -s "$WORK/issue.lua" "$TRUSTD_URL/api/v1/licences" >/dev/null
  done
  echo "preloaded: $(count_licences) licences stored before measuring"
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}')"
echo "wrk: 2 threads, $CONNECTIONS connections, $DURATION x $RUNS runs; $BENCH_DB, durable commits"
run "POST /api/v1/licences (issue)" "$TRUSTD_URL/api/v1/licences" "$WORK/issue.lua"
# The baseline is measured beside the reads it is compared with, after the issuance: whatever
# the database still does after the writes (PostgreSQL's autovacuum and checkpoints) weighs on
# the baseline as on the reads.
run "baseline GET /healthz" "$TRUSTD_URL/healthz"
run "GET /v/ID (citizen page)" "$TRUSTD_URL/v/$ID"
run "GET /api/v1/public/licences/ID" "$TRUSTD_URL/api/v1/public/licences/$ID"
# The answers were right, not only fast: the page of the benchmarked licence says valid, and
# every licence issued during the run is stored with its log entry.
curl -fsS "$TRUSTD_URL/v/$ID" | grep -q "有效" || { echo "the citizen page does not say valid" >&2; exit 1; }
if [ "$BENCH_DB" = sqlite ]; then
  issued=$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from licences').fetchone()[0], c.execute(\"select count(*) from events where event_type='licence.issued'\").fetchone()[0])" "$WORK/trustd.db")
else
  issued=$(psql -At "$TRUSTD_DATABASE_URL" -c "select (select count(*) from licences) || ' ' || (select count(*) from events where event_type='licence.issued')")
fi
read -r rows entries <<<"$issued"
[ "$rows" = "$entries" ] || { echo "licences stored $rows, issuance entries $entries: they differ" >&2; exit 1; }
echo "licences stored: $rows, each with its log entry"
