#!/usr/bin/env bash
# Transparency benchmarks (issue 16), in one run on the same machine (release build, SQLite),
# each with wrk (2 threads, 16 connections):
#  1. baseline: GET /healthz;
#  2. GET /log/tile/0/000 (a full level-0 tile, 8 KiB, cut from the stored tree), a partial
#     tile, and GET /log/checkpoint (the published checkpoint with its cosignatures);
#  3. `trustd witness`: POST /add-checkpoint of trustd's latest checkpoint with `old` = its own
#     size (the spec's replay: parse, log-signature check, the lock, the state written with
#     synchronous=FULL, an Ed25519 cosignature) — every request a full cosigning.
#   usage: scripts/bench-witness.sh [DURATION=10s]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${1:-10s}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
(cd "$REPO" && cargo build --release --quiet --bin trustd)
TRUSTD_BIN="$REPO/target/release/trustd"
source "$REPO/scripts/lib.sh"
WORK=$(mktemp -d)
W_PID=
trap 'stop_trustd; [ -n "$W_PID" ] && kill $W_PID; rm -rf "$WORK"' EXIT
export TRUSTD_PUBLIC_RATE=0   # one client address sends everything
RUST_LOG=error start_trustd "$WORK/trustd"
echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}')"
# 300 entries (API keys: cheap events) so that a full level-0 tile exists.
for i in $(seq 1 300); do api POST /api/v1/api-keys "{\"role\":\"auditor\",\"label\":\"b$i\"}" >/dev/null; done
# Wait until the checkpoint holds every entry (two reads 0.5 s apart agree).
prev=-1
for _ in $(seq 1 60); do
  size=$(curl -fsS "$TRUSTD_URL/log/checkpoint" | sed -n 2p)
  [ "$size" -ge 300 ] && [ "$size" = "$prev" ] && break
  prev=$size
  sleep 0.5
done
PARTIAL="/log/tile/0/001.p/$((size % 256))"
[ $((size % 256)) -gt 0 ] || PARTIAL="/log/tile/1/000.p/1"

run() { # run LABEL URL [LUA]
  local out total secs bad
  out=$(wrk -t2 -c16 -d"$DURATION" --latency ${3:+-s "$3"} "$2")
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  secs=$(echo "$out" | awk '/requests in/ {gsub(/s,/,"",$4); print $4}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $5}' | grep . || echo 0)
  echo "$1: $(python3 -c "print(round(($total - $bad) / $secs))") successful /s, p50 $(echo "$out" | awk '$1=="50%" {print $2}'), non-2xx $bad of $total"
}
run "baseline: GET /healthz" "$TRUSTD_URL/healthz"
run "GET /log/tile/0/000 (full tile, 8 KiB)" "$TRUSTD_URL/log/tile/0/000"
run "GET $PARTIAL (partial tile)" "$TRUSTD_URL$PARTIAL"
run "GET /log/checkpoint" "$TRUSTD_URL/log/checkpoint"

LOG_VKEY=$(curl -fsS "$TRUSTD_URL/api/v1/log/key")
W_PORT=$(free_port)
TRUSTD_WITNESS_MASTER_KEY=$(head -c 32 /dev/urandom | base64) RUST_LOG=error \
  "$TRUSTD_BIN" witness --listen "127.0.0.1:$W_PORT" --data-dir "$WORK/witness" \
  --name bench.witness.example --log "$LOG_VKEY" >"$WORK/witness.log" 2>&1 &
W_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$W_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
NOTE=$(curl -fsS "$TRUSTD_URL/log/checkpoint"; echo x); NOTE=${NOTE%x}
[ "$(echo "$NOTE" | sed -n 2p)" = "$size" ] || { echo "the log grew during the benchmark" >&2; exit 1; }
printf 'old 0\n\n%s' "$NOTE" >"$WORK/first.txt"
curl -fsS --data-binary @"$WORK/first.txt" "http://127.0.0.1:$W_PORT/add-checkpoint" >/dev/null
printf 'old %s\n\n%s' "$size" "$NOTE" >"$WORK/again.txt"
cat >"$WORK/add.lua" <<LUA
local f = io.open("$WORK/again.txt", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"; wrk.body = body
LUA
run "baseline: witness GET /healthz" "http://127.0.0.1:$W_PORT/healthz"
run "witness POST /add-checkpoint (cosign, state fsynced)" "http://127.0.0.1:$W_PORT/add-checkpoint" "$WORK/add.lua"
