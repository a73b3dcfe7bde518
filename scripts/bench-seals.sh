#!/usr/bin/env bash
# Stamping benchmarks, in one run on the same files and machine (release build, SQLite):
#  1. throughput of stamping a ~100 KB PDF over HTTP (wrk, 16 connections; B-B and B-T),
#     against pyHanko signing the same file in-process (B-B, one core);
#  2. a ~50 MB PDF: wall time of one stamping (curl) against `openssl dgst -sha256` of the file, and the
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
# stamp_lua FILE: a wrk script posting FILE that checks every answer: a stamped PDF (HTTP 200,
# ending with %%EOF) or 503 (busy: beyond TRUSTD_MAX_CONCURRENT_DOCUMENTS, with Retry-After);
# anything else is wrong. Only stamped answers count in the rate it prints.
stamp_lua() {
  cat <<LUA
local f = io.open("$1", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/pdf"
wrk.headers["Authorization"] = "Bearer $OP"
local threads = {}
function setup(thread) table.insert(threads, thread) end
bad = 0; busy = 0
function response(status, headers, body)
  if status == 503 then busy = busy + 1
  elseif status ~= 200 or not body:sub(-32):find("%%%%EOF%s*$") then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b, y = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); y = y + t:get("busy") end
  local ok = summary.requests - b - y
  io.write(string.format("checked %d answers, %d wrong, %d busy; %.1f stamped/s, p50 %.1f ms\n",
    summary.requests, b, y, ok / (summary.duration / 1e6), latency:percentile(50) / 1000))
end
LUA
}
for level in B-B B-T; do
  stamp_lua "$WORK/small.pdf" >"$WORK/stamp.lua"
  out=$(wrk -t2 -c16 -d"$DURATION" -s "$WORK/stamp.lua" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=$level" | grep '^checked')
  echo "$out" | grep -q ", 0 wrong," || { echo "FAILED: stamping $level: $out" >&2; exit 1; }
  echo "trustd stamp $level over HTTP: $out"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" -days 30 \
  -subj "/CN=bench" -addext "keyUsage=critical,digitalSignature,nonRepudiation" 2>/dev/null
per=$("$VENV/bin/python" "$REPO/scripts/interop/pyhanko_sign_bench.py" "$WORK/k.pem" "$WORK/c.pem" "$WORK/small.pdf" 40)
echo "pyHanko in-process B-B: median $per s per signature = $(python3 -c "print(round(1/$per))") /s"

# Real files from several producers (TRUSTD_SAMPLES_DIR, the shared sample set): trustd over
# HTTP (B-B, wrk, 16 connections, half the duration) against pyHanko in-process on the same
# file. Every answer is checked (HTTP 200 and a PDF that ends with %%EOF); one output per file
# is checked by pyHanko.
if [ -n "${TRUSTD_SAMPLES_DIR:-}" ]; then
  half=$(( ${DURATION%s} / 2 ))s
  for f in pdftex-hyperref-acroform-xrefstream.pdf libreoffice-pdf16-cjk-landscape-permit.pdf \
           chromium-bilingual-3pages.pdf fpdf2-cjk-certificate-2pages.pdf cairo-cjk-notice-no-id.pdf qpdf-objstm-xrefstream.pdf; do
    [ -f "$TRUSTD_SAMPLES_DIR/$f" ] || continue
    stamp_lua "$TRUSTD_SAMPLES_DIR/$f" >"$WORK/real.lua"
    sleep 3  # the log's integration of the previous run's entries is not charged to this file
    out=$(wrk -t2 -c16 -d"$half" -s "$WORK/real.lua" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=B-B" | grep '^checked')
    echo "$out" | grep -q ", 0 wrong," || { echo "FAILED: stamping $f: $out" >&2; exit 1; }
    curl -fsS -o "$WORK/real-sealed.pdf" -H "Authorization: Bearer $OP" -H 'Content-Type: application/pdf' \
      --data-binary @"$TRUSTD_SAMPLES_DIR/$f" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=B-B"
    "$VENV/bin/pyhanko" sign validate --trust-replace --trust <(curl -fsS "$TRUSTD_URL/ca/root.pem") "$WORK/real-sealed.pdf" 2>/dev/null \
      | grep -q ":INTACT:TRUSTED" || { echo "FAILED: pyHanko on $f sealed by trustd" >&2; exit 1; }
    rate=$(echo "$out" | sed -E 's/.* ([0-9.]+) stamped\/s.*/\1/')
    per=$("$VENV/bin/python" "$REPO/scripts/interop/pyhanko_sign_bench.py" "$WORK/k.pem" "$WORK/c.pem" "$TRUSTD_SAMPLES_DIR/$f" 40)
    echo "real file $f ($(stat -c %s "$TRUSTD_SAMPLES_DIR/$f") B): trustd B-B over HTTP $rate /s; pyHanko in-process $(python3 -c "print(round(1/$per))") /s; ratio $(python3 -c "print(round($rate*$per, 1))")x"
  done
fi

idle=$(awk '/VmRSS/ {print $2}' /proc/"$TRUSTD_PID"/status)
# Five of each, alternating; medians. Every stamping must answer 200 and a PDF.
: >"$WORK/times"
for i in 1 2 3 4 5; do
  t0=$(date +%s.%N)
  openssl dgst -sha256 "$WORK/large.pdf" >/dev/null
  t1=$(date +%s.%N)
  code=$(curl -sS -o "$WORK/large-sealed.pdf" -w '%{http_code}' -H "Authorization: Bearer $OP" -H 'Content-Type: application/pdf' \
    --data-binary @"$WORK/large.pdf" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=B-T")
  t2=$(date +%s.%N)
  [ "$code" = 200 ] && tail -c 8 "$WORK/large-sealed.pdf" | grep -q '%%EOF' \
    || { echo "FAILED: stamping the 50 MB file answered HTTP $code" >&2; exit 1; }
  echo "$t0 $t1 $t2" >>"$WORK/times"
done
peak=$(awk '/VmHWM/ {print $2}' /proc/"$TRUSTD_PID"/status)
"$VENV/bin/pyhanko" sign validate --trust-replace --trust <(curl -fsS "$TRUSTD_URL/ca/root.pem") "$WORK/large-sealed.pdf" 2>/dev/null \
  | grep -q ":INTACT:TRUSTED" || { echo "FAILED: pyHanko on the 50 MB file sealed by trustd" >&2; exit 1; }
python3 - "$WORK/times" "$idle" "$peak" "$(stat -c %s "$WORK/large.pdf")" "$code" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
idle, peak, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sha = statistics.median(t1 - t0 for t0, t1, _ in rows)
stamp = statistics.median(t2 - t1 for _, t1, t2 in rows)
print(f"50 MB: HTTP {sys.argv[5]}; openssl dgst {sha*1000:.0f} ms; stamp over HTTP {stamp*1000:.0f} ms = {stamp/sha:.1f}x openssl dgst -sha256 "
      f"(target <= 5x; medians of 5; the output validated by pyHanko)")
print(f"server RSS: idle {idle/1024:.0f} MiB, peak {peak/1024:.0f} MiB: {(peak-idle)/1024:.0f} MiB above idle = {(peak-idle)*1024/size:.1f}x the file (target <= 64 MiB)")
PY

# Sixteen 50 MB stampings at once: those beyond the concurrency cap are refused at once with 503
# and Retry-After; the server's peak RSS over the whole burst (VmHWM) must stay bounded.
burst_pids=()
for i in $(seq 1 16); do
  curl -sS -o /dev/null -D "$WORK/burst-$i.headers" -w '%{http_code}\n' -H "Authorization: Bearer $OP" \
    -H 'Content-Type: application/pdf' --data-binary @"$WORK/large.pdf" \
    "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=B-B" >"$WORK/burst-$i.code" &
  burst_pids+=($!)
done
wait "${burst_pids[@]}"  # (not a bare wait: the server is a child too)
ok=$(cat "$WORK"/burst-*.code | grep -c '^200$' || true)
busy=$(cat "$WORK"/burst-*.code | grep -c '^503$' || true)
[ $((ok + busy)) = 16 ] || { echo "FAILED: a burst stamping answered neither 200 nor 503: $(cat "$WORK"/burst-*.code | tr '\n' ' ')" >&2; exit 1; }
if [ "$busy" -gt 0 ] && ! grep -qi '^retry-after:' $(grep -l '^HTTP/1.1 503' "$WORK"/burst-*.headers); then
  echo "FAILED: a 503 without Retry-After" >&2; exit 1
fi
burst=$(awk '/VmHWM/ {print $2}' /proc/"$TRUSTD_PID"/status)
echo "16 concurrent 50 MB stampings: $ok stamped, $busy refused with 503 and Retry-After; server peak RSS $((burst / 1024)) MiB (target <= 1 GiB)"
