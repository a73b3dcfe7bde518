#!/usr/bin/env bash
# Verification and OCSP benchmarks, in one run on the same machine (release build, SQLite):
#  1. a ~100 KB PDF sealed five times (B-T): wall time to verify it with `trustd verify`
#     (offline, a process per run), over HTTP (POST /api/v1/verify/pdf), with
#     `pyhanko sign validate` and with poppler's `pdfsig`; medians of repeated runs;
#  2. OCSP responses per second (wrk, POST /ocsp, one request body for a seal certificate).
#   usage: scripts/bench-verify.sh [DURATION=10s]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${1:-10s}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v pdfsig >/dev/null || apt-get install -y -qq poppler-utils
command -v certutil >/dev/null || apt-get install -y -qq libnss3-tools
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
# The load comes from one address: the per-client limit on public endpoints is off here.
export TRUSTD_PUBLIC_RATE=0
RUST_LOG=error start_trustd "$WORK"
CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市人民政府\"}" >/dev/null
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
SEAL=$(api POST /api/v1/seals '{"name":"福州市人民政府公章","kind":"official"}' "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api GET "/api/v1/seals/$SEAL" "" "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["certificate_pem"])' >"$WORK/seal.pem"
curl -fsS "$TRUSTD_URL/ca/root.pem" >"$WORK/root.pem"
curl -fsS "$TRUSTD_URL/ca/$CODE.pem" >"$WORK/dept.pem"
python3 "$REPO/scripts/interop/make_pdf.py" 100000 "$WORK/doc0.pdf"
for i in 1 2 3 4 5; do
  curl -fsS -o "$WORK/doc$i.pdf" -H "Authorization: Bearer $OP" -H 'Content-Type: application/pdf' \
    --data-binary @"$WORK/doc$((i - 1)).pdf" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?page=1&x=$((60 * i))&y=60&width=50"
done
DOC="$WORK/doc5.pdf"
mkdir "$WORK/nss"; certutil -N -d "sql:$WORK/nss" --empty-password; certutil -A -d "sql:$WORK/nss" -n root -t "CT,C,C" -a -i "$WORK/root.pem"

median_ms() { # median_ms RUNS COMMAND... : median wall time in ms; any failed run aborts
  local runs=$1; shift
  for _ in $(seq "$runs"); do
    # $EPOCHREALTIME (bash 5) reads the clock without starting a process.
    local t0 t1; t0=${EPOCHREALTIME/./}
    "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; echo FAILED; return; }
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0))
  done | sort -n | awk '/FAILED/ {bad=1} {a[NR]=$1} END {if (bad) {print "FAILED"; exit 1}; printf "%.1f", (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) / 1000}'
}
# Each timed run checks its answer: the report must say TOTAL-PASSED for all five signatures.
# (Counted with shell built-ins, so that the check adds no process to the time.)
http_verify() {
  curl -fsS -o "$WORK/report.json" -H 'Content-Type: application/pdf' --data-binary @"$DOC" "$TRUSTD_URL/api/v1/verify/pdf" || return 1
  local r passed='"indication":"TOTAL-PASSED"'
  r=$(<"$WORK/report.json")
  local rest=${r//"$passed"/}
  [ $(((${#r} - ${#rest}) / ${#passed})) = 6 ]
}
offline_verify() { "$TRUSTD_BIN" verify --revocation-optional --trust "$WORK/root.pem" "$DOC"; }
pdfsig_verify() { [ "$(pdfsig -nssdir "sql:$WORK/nss" "$DOC" 2>&1 | grep -c 'Signature is Valid.')" = 5 ]; }
pyhanko_verify() { [ "$("$VENV/bin/pyhanko" sign validate --trust-replace --trust "$WORK/root.pem" "$DOC" 2>/dev/null | grep -c ':INTACT:TRUSTED')" = 5 ]; }

echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}'); document $(stat -c %s "$DOC") B with 5 signatures"
"$TRUSTD_BIN" verify --revocation-optional --trust "$WORK/root.pem" "$DOC" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("trustd verify says", r["indication"], "for", len(r["signatures"]), "signatures")'
echo "trustd verify (offline, one process per run): median $(median_ms 21 offline_verify) ms"
echo "POST /api/v1/verify/pdf (curl, one request per run): median $(median_ms 21 http_verify) ms"
# Over a kept-alive connection (wrk, one connection): the request itself, without a client
# process started per run. Every answer is checked by the script below: six TOTAL-PASSED
# indications (five signatures and the document), else the run fails.
cat >"$WORK/verify.lua" <<LUA
local f = io.open("$DOC", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/pdf"
local threads = {}
function setup(thread) table.insert(threads, thread) end
bad = 0
function response(status, headers, body)
  local _, n = body:gsub('"indication":"TOTAL%-PASSED"', '')
  if status ~= 200 or n ~= 6 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format("checked %d answers, %d wrong; median %.2f ms\n", summary.requests, b, latency:percentile(50) / 1000))
end
LUA
kept=$(wrk -t1 -c1 -d"$DURATION" -s "$WORK/verify.lua" "$TRUSTD_URL/api/v1/verify/pdf" | grep '^checked')
echo "$kept" | grep -q ", 0 wrong;" || { echo "FAILED: a verification answer was wrong: $kept" >&2; exit 1; }
echo "POST /api/v1/verify/pdf (wrk, one kept-alive connection, $DURATION): $kept"
echo "pdfsig -nssdir: median $(median_ms 11 pdfsig_verify) ms"
echo "pyhanko sign validate --trust root.pem: median $(median_ms 5 pyhanko_verify) ms"

# Without a nonce an answer is reused for a second (RFC 5019 style); with one, every answer is
# looked up and signed afresh. Both are measured.
openssl ocsp -issuer "$WORK/dept.pem" -cert "$WORK/seal.pem" -no_nonce -reqout "$WORK/plain.der" >/dev/null 2>&1 || true
openssl ocsp -issuer "$WORK/dept.pem" -cert "$WORK/seal.pem" -reqout "$WORK/nonce.der" >/dev/null 2>&1 || true
# Every answer is checked by the script: HTTP 200 and a successful OCSPResponse (DER
# 30 82 LL LL 0A 01 00); one answer of each kind is then checked fully by openssl (signature,
# nonce, "good").
cat "$WORK/dept.pem" "$WORK/root.pem" >"$WORK/ocsp-chain.pem"
for kind in plain nonce; do
  cat >"$WORK/ocsp.lua" <<LUA
local f = io.open("$WORK/$kind.der", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/ocsp-request"
local threads = {}
function setup(thread) table.insert(threads, thread) end
bad = 0
function response(status, headers, body)
  if status ~= 200 or body:sub(5, 7) ~= "\10\1\0" then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format("checked %d answers, %d wrong\n", summary.requests, b))
end
LUA
  out=$(wrk -t2 -c32 -d"$DURATION" --latency -s "$WORK/ocsp.lua" "$TRUSTD_URL/ocsp")
  echo "$out" | grep -q "^checked .*, 0 wrong" || { echo "FAILED: OCSP answers: $(echo "$out" | grep '^checked')" >&2; exit 1; }
  curl -fsS -H 'Content-Type: application/ocsp-request' --data-binary @"$WORK/$kind.der" "$TRUSTD_URL/ocsp" >"$WORK/$kind.resp"
  # (-no_nonce: with -reqin, openssl would otherwise add a second nonce of its own.)
  openssl ocsp -no_nonce -respin "$WORK/$kind.resp" -reqin "$WORK/$kind.der" -issuer "$WORK/dept.pem" -cert "$WORK/seal.pem" \
    -CAfile "$WORK/ocsp-chain.pem" 2>&1 | grep -q "seal.pem: good" || { echo "FAILED: openssl ocsp on a $kind answer" >&2; exit 1; }
  if [ "$kind" = nonce ]; then
    asked=$(openssl ocsp -reqin "$WORK/nonce.der" -req_text -noverify 2>/dev/null | grep -A1 "OCSP Nonce" | tail -1 | tr -d ' ')
    echoed=$(openssl ocsp -respin "$WORK/nonce.resp" -resp_text -noverify 2>/dev/null | grep -A1 "OCSP Nonce" | tail -1 | tr -d ' ')
    [ -n "$asked" ] && [ "$asked" = "$echoed" ] || { echo "FAILED: the nonce is not echoed ($asked / $echoed)" >&2; exit 1; }
  fi
  echo "OCSP POST /ocsp ($kind request): $(echo "$out" | awk '/Requests\/sec/ {print $2}') responses/s, p50 $(echo "$out" | awk '$1=="50%" {print $2}'), p99 $(echo "$out" | awk '$1=="99%" {print $2}'), $(echo "$out" | grep '^checked')"
done
