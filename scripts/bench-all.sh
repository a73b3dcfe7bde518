#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md in one run on one machine, each with its baseline measured in
# the same run and every answer checked while it is timed (a failing command stops the run, it
# is never timed as a success). Writes target/bench/results.json (machine-readable) and the
# summary table between the bench-all markers of BENCHMARKS.md, with the machine it ran on.
#   usage: scripts/bench-all.sh
#   BENCH_DURATION (10s), BENCH_RUNS (3): wrk runs; BENCH_PRELOAD (1000000, 0 = skip): the
#   licences stored before the cost-growth run; LOG_BENCH_SIZE (10000000): entries for the proof
#   timings (the audit's timing is skipped above 1,000,000); TRUSTD_SAMPLES_DIR: the real PDFs to
#   stamp (the shared sample set).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$REPO/target/bench"
mkdir -p "$OUT"
rm -f "$OUT"/*.txt "$OUT"/licences.jsonl
DURATION="${BENCH_DURATION:-10s}"
RUNS="${BENCH_RUNS:-3}"
PRELOAD="${BENCH_PRELOAD:-1000000}"
export TRUSTD_TEST_POSTGRES_URL="${TRUSTD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
(cd "$REPO" && cargo build --release --quiet --bin trustd)
export TRUSTD_BIN="$REPO/target/release/trustd"
step() { echo "== [${SECONDS}s] $*"; }

step "licence issuance and the citizen page, SQLite"
BENCH_JSON="$OUT/licences.jsonl" "$REPO/scripts/bench-licences.sh" "$DURATION" "$RUNS" 64 | tee "$OUT/licences-sqlite.txt"
step "licence issuance and the citizen page, PostgreSQL"
BENCH_DB=postgres BENCH_JSON="$OUT/licences.jsonl" "$REPO/scripts/bench-licences.sh" "$DURATION" "$RUNS" 64 | tee "$OUT/licences-postgres.txt"
if [ "$PRELOAD" -gt 0 ]; then
  step "the same with $PRELOAD licences stored first"
  BENCH_PRELOAD="$PRELOAD" BENCH_JSON="$OUT/licences.jsonl" "$REPO/scripts/bench-licences.sh" "$DURATION" 1 64 | tee "$OUT/licences-preloaded.txt"
fi
step "verification and OCSP"
"$REPO/scripts/bench-verify.sh" "$DURATION" | tee "$OUT/verify.txt"
step "stamping: generated and real files, the 50 MB file"
"$REPO/scripts/bench-seals.sh" "$DURATION" | tee "$OUT/seals.txt"
step "the log: durable appends, proofs"
LOG_SIZE="${LOG_BENCH_SIZE:-10000000}"
AUDIT=1
[ "$LOG_SIZE" -le 1000000 ] || AUDIT=0
(cd "$REPO" && LOG_BENCH_SIZE="$LOG_SIZE" LOG_BENCH_AUDIT="$AUDIT" LOG_BENCH_APPENDS=8000 cargo bench --bench log 2>/dev/null) | tee "$OUT/log.txt"
step "summary"
python3 "$REPO/scripts/bench/summarise.py" "$OUT" "$REPO/BENCHMARKS.md"
echo "bench-all: done in ${SECONDS}s; $OUT/results.json"
