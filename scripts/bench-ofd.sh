#!/usr/bin/env bash
# OFD sealing benchmarks (issue 15), in one run on the same machine (release build, SQLite):
#  1. throughput of sealing an OFD over HTTP (wrk, 16 connections): trustd's own small OFD and,
#     when ../shared/ofd-samples (or TRUSTD_OFD_SAMPLES_DIR) is there, other producers' files
#     (the ofdrw-sealed SESV4SignDoc.ofd, sealed once more, and the tax invoice v4signed.ofd);
#  2. in the same run, the baselines: PDF stamping at B-T over HTTP on a ~100 KB PDF, and
#     `POST /api/v1/verify/ofd` of the sealed small OFD;
#  3. SM2 against P-256 sign/verify per second and SM3 against SHA-256 (cargo bench --bench crypto).
#   usage: scripts/bench-ofd.sh [DURATION=10s]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${1:-10s}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
(cd "$REPO" && cargo build --release --quiet --bin trustd)
TRUSTD_BIN="$REPO/target/release/trustd"
source "$REPO/scripts/lib.sh"
WORK=$(mktemp -d)
trap 'stop_trustd; rm -rf "$WORK"' EXIT
export TRUSTD_PUBLIC_RATE=0   # one client address sends everything
RUST_LOG=error start_trustd "$WORK"
CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市人民政府\"}" >/dev/null
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
SEAL=$(api POST /api/v1/seals '{"name":"福州市人民政府合同专用章","kind":"contract"}' "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
python3 "$REPO/scripts/interop/make_ofd.py" "$WORK/small.ofd" "合同 第1页" "合同 第2页"
python3 "$REPO/scripts/interop/make_pdf.py" 100000 "$WORK/small.pdf"
echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}')"

run() { # run LABEL FILE CONTENT_TYPE PATH
  cat >"$WORK/post.lua" <<LUA
local f = io.open("$2", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "$3"
wrk.headers["Authorization"] = "Bearer $OP"
LUA
  local out
  # As many connections as the server has document slots (TRUSTD_MAX_CONCURRENT_DOCUMENTS,
  # default 8): more only collect fast 503s, which wrk would count as requests.
  out=$(wrk -t2 -c8 -d"$DURATION" --latency -s "$WORK/post.lua" "$TRUSTD_URL$4")
  local total secs bad
  total=$(echo "$out" | awk '/requests in/ {print $1}')
  secs=$(echo "$out" | awk '/requests in/ {gsub(/s,/,"",$4); print $4}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $5}' | grep . || echo 0)
  echo "$1 ($(stat -c %s "$2") B): $(python3 -c "print(round(($total - $bad) / $secs))") successful /s, p50 $(echo "$out" | awk '$1=="50%" {print $2}'), non-2xx $bad of $total"
}
run "seal OFD (make_ofd.py, 2 pages)" "$WORK/small.ofd" application/ofd "/api/v1/seals/$SEAL/stamp"
SAMPLES="${TRUSTD_OFD_SAMPLES_DIR:-$REPO/../shared/ofd-samples}"
for f in SESV4SignDoc.ofd v4signed.ofd; do
  [ -f "$SAMPLES/$f" ] && run "seal OFD ($f, another producer's)" "$SAMPLES/$f" application/ofd "/api/v1/seals/$SEAL/stamp"
done
run "baseline: stamp PDF B-T" "$WORK/small.pdf" application/pdf "/api/v1/seals/$SEAL/stamp?level=B-T"
curl -fsS -H "Authorization: Bearer $OP" -H 'Content-Type: application/ofd' --data-binary @"$WORK/small.ofd" \
  "$TRUSTD_URL/api/v1/seals/$SEAL/stamp" -o "$WORK/sealed.ofd"
run "verify sealed OFD" "$WORK/sealed.ofd" application/ofd "/api/v1/verify/ofd"
stop_trustd
(cd "$REPO" && cargo bench --quiet --bench crypto 2>/dev/null)
