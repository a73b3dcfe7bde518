#!/usr/bin/env bash
# Stamping benchmarks, in one run on the same files and machine (release build, SQLite):
#  1. throughput of stamping a ~100 KB PDF over HTTP (wrk, 16 connections; B-B and B-T),
#     against pyHanko signing the same file in-process (B-B, one core);
#  2. a ~50 MB PDF: wall time of one stamping (curl) against `sha256sum` of the file, and the
#     server's peak RSS (VmHWM) against its idle RSS.
#   usage: scripts/bench-seals.sh [DURATION=10s]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${1:-10s}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ -z "${TRUSTD_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release --quiet --bin trustd)
  TRUSTD_BIN="$REPO/target/release/trustd"
fi
VENV="$REPO/target/interop-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check pyHanko pyhanko-cli
source "$REPO/scripts/lib.sh"
WORK=$(mktemp -d)
trap 'stop_trustd; rm -rf "$WORK"' EXIT
export TRUSTD_MAX_UPLOAD_BYTES=$((200 * 1024 * 1024))
RUST_LOG=error start_trustd "$WORK"
CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市人民政府\"}" >/dev/null
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
SEAL=$(api POST /api/v1/seals '{"name":"福州市人民政府公章","kind":"official"}' "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
python3 "$REPO/scripts/interop/make_pdf.py" 100000 "$WORK/small.pdf"
python3 "$REPO/scripts/interop/make_pdf.py" 52428800 "$WORK/large.pdf"

echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}'); small $(stat -c %s "$WORK/small.pdf") B, large $(stat -c %s "$WORK/large.pdf") B"
for level in B-B B-T; do
  cat >"$WORK/stamp.lua" <<LUA
local f = io.open("$WORK/small.pdf", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/pdf"
wrk.headers["Authorization"] = "Bearer $OP"
LUA
  out=$(wrk -t2 -c16 -d"$DURATION" --latency -s "$WORK/stamp.lua" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=$level")
  echo "trustd stamp $level over HTTP: $(echo "$out" | awk '/Requests\/sec/ {print $2}') /s, p50 $(echo "$out" | awk '$1=="50%" {print $2}'), non-2xx $(echo "$out" | awk '/Non-2xx/ {print $5}' | grep . || echo 0)"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" -days 30 \
  -subj "/CN=bench" -addext "keyUsage=critical,digitalSignature,nonRepudiation" 2>/dev/null
per=$("$VENV/bin/python" "$REPO/scripts/interop/pyhanko_sign_bench.py" "$WORK/k.pem" "$WORK/c.pem" "$WORK/small.pdf" 40)
echo "pyHanko in-process B-B: median $per s per signature = $(python3 -c "print(round(1/$per))") /s"

idle=$(awk '/VmRSS/ {print $2}' /proc/"$TRUSTD_PID"/status)
t0=$(date +%s.%N)
sha256sum "$WORK/large.pdf" >/dev/null
t1=$(date +%s.%N)
code=$(curl -sS -o "$WORK/large-sealed.pdf" -w '%{http_code}' -H "Authorization: Bearer $OP" -H 'Content-Type: application/pdf' \
  --data-binary @"$WORK/large.pdf" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=B-T")
t2=$(date +%s.%N)
peak=$(awk '/VmHWM/ {print $2}' /proc/"$TRUSTD_PID"/status)
python3 - "$t0" "$t1" "$t2" "$idle" "$peak" "$(stat -c %s "$WORK/large.pdf")" "$code" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:4]); idle, peak, size = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
sha, stamp = t1 - t0, t2 - t1
print(f"50 MB: HTTP {sys.argv[7]}; sha256sum {sha*1000:.0f} ms; stamp over HTTP {stamp*1000:.0f} ms = {stamp/sha:.1f}x sha256sum "
      f"(target <= 2x + 50 ms = {(2*sha+0.05)*1000:.0f} ms)")
print(f"server RSS: idle {idle/1024:.0f} MiB, peak {peak/1024:.0f} MiB: {(peak-idle)/1024:.0f} MiB above idle = {(peak-idle)*1024/size:.1f}x the file (target <= 2x)")
PY
