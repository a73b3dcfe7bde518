#!/usr/bin/env bash
# Fuzzing (cargo fuzz / libFuzzer, on the stable toolchain with RUSTC_BOOTSTRAP=1) of every
# parser of untrusted input; the targets are in fuzz/fuzz_targets, the findings in FUZZING.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]     (default 600 s each, all targets, two at a time)
#   FUZZ_DEBUG_ASSERTIONS=1 scripts/fuzz.sh …   (also overflow checks and debug assertions)
#
# Seeds: the PDFs of $TRUSTD_SAMPLES_DIR (../shared/pdf-samples when present), PDFs sealed by a
# trustd started here at every level, their CMS signatures, OCSP and RFC 3161 requests made by
# openssl, a licence token, identifiers. The summary (executions, coverage, RSS) goes to
# target/fuzz/summary.tsv; crashes to fuzz/artifacts/<target>/.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
SECONDS_EACH="${1:-600}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(pdf_seal pdf_verify png_appearance cms ocsp_request tsa_request licence_token identifiers log_proofs ofd_verify tlog_text)
fi
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
SAMPLES="${TRUSTD_SAMPLES_DIR:-$REPO/../shared/pdf-samples}"
OUT="$REPO/target/fuzz"
mkdir -p "$OUT"
CORPUS="$REPO/fuzz/corpus"

FLAGS=(-s none -O)
if [ "${FUZZ_DEBUG_ASSERTIONS:-0}" = 1 ]; then FLAGS+=(-a); fi
echo "== building the fuzz targets (release, no sanitizer, ${FLAGS[*]})"
(cd fuzz && cargo fuzz build "${FLAGS[@]}")

echo "== seed corpora"
for t in "${TARGETS[@]}"; do mkdir -p "$CORPUS/$t"; done
# (The request seeds below are written whichever targets run.)
mkdir -p "$CORPUS/ocsp_request" "$CORPUS/tsa_request"
WORK="$(mktemp -d)"
trap 'stop_trustd; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/data" "$WORK/pdf"
python3 -c "import sys; sys.path.insert(0, 'scripts/interop'); from tiny_pdf import tiny_pdf; sys.stdout.buffer.write(tiny_pdf())" >"$WORK/pdf/tiny.pdf"
if [ -d "$SAMPLES" ]; then
  find "$SAMPLES" -name '*.pdf' -exec cp {} "$WORK/pdf/" \;
fi
# The attack corpus (forgeries, bombs, benign controls) and the committed pyHanko fixtures.
cp tests/fixtures/pyhanko/*.pdf tests/fixtures/attacks/*.pdf "$WORK/pdf/"
TRUSTD_PUBLIC_RATE=0 start_trustd "$WORK/data"
DEPT=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$DEPT\",\"name\":\"福州市人民政府\"}" >"$WORK/dept.json"
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$DEPT\",\"label\":\"fuzz\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
SEAL=$(api POST /api/v1/seals '{"name":"公章","kind":"official"}' "$OP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for level in B-B B-T B-LT B-LTA; do
  curl -fsS -H "Authorization: Bearer $OP" -H 'Content-Type: application/pdf' --data-binary @"$WORK/pdf/tiny.pdf" \
    "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?level=$level" -o "$WORK/pdf/sealed-$level.pdf"
done
TYPE=$(api POST /api/v1/licence-types '{"name":"居住证","holder_kind":"person","fields":[{"key":"address","label":"居住地址"}]}' "$OP" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["type_code"])')
api POST /api/v1/licences "{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"张三丰\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"},\"face\":{\"address\":\"福州\"}}" "$OP" >"$WORK/licence.json"
python3 - "$WORK" "$CORPUS" "$DEPT" <<'PY'
import hashlib, json, os, re, sys
work, corpus, dept = sys.argv[1:]
def put(target, data):
    d = os.path.join(corpus, target)
    if os.path.isdir(d):
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
pdfs = [open(os.path.join(work, "pdf", n), "rb").read() for n in sorted(os.listdir(os.path.join(work, "pdf")))]
for p in pdfs:
    put("pdf_seal", p)
    put("pdf_verify", p)
    for m in re.finditer(rb"/Contents\s*<([0-9A-Fa-f]+)>", p):
        der = bytes.fromhex(m.group(1).decode()).rstrip(b"\0")
        if der.startswith(b"\x30"):
            put("cms", der)
lic = json.load(open(os.path.join(work, "licence.json")))
put("licence_token", lic["token"].encode())
put("licence_token", lic["sd_jwt"].encode())
for s in [lic["identifier"], dept, "11010519491231002X", "110105194912310021", lic["type_code"],
          "MjAyNi0wMS0wMVQwMDowMDowMFo", "2026-01-31T08:00:00Z", "50"]:
    put("identifiers", s.encode())
import struct, zlib
def png(w, h, color_type, depth, raw):
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
put("png_appearance", png(2, 2, 2, 8, b"\0" + b"\xff\0\0" * 2 + b"\0" + b"\0\xff\0" * 2))
put("png_appearance", png(2, 1, 6, 8, b"\0" + b"\xff\0\0\x80" * 2))
put("png_appearance", png(3, 1, 0, 1, b"\0\xa0"))
put("png_appearance", png(1, 1, 4, 16, b"\0\xff\xff\x80\x00"))
for a, b in [(0, 1), (3, 7), (5, 300), (2**63, 1), (2**64 - 1, 2**64 - 1)]:
    put("log_proofs", a.to_bytes(8, "little") + b.to_bytes(8, "little") + b"\x07" + bytes(64))
PY
# OFD seeds: a package made here, and other producers' sealed OFDs and seal when they are there.
if [ -d "$CORPUS/ofd_verify" ]; then
  python3 "$REPO/scripts/interop/make_ofd.py" "$CORPUS/ofd_verify/make_ofd.ofd"
  for f in "${TRUSTD_OFD_SAMPLES_DIR:-$REPO/../shared/ofd-samples}"/*.ofd "${TRUSTD_OFD_SAMPLES_DIR:-$REPO/../shared/ofd-samples}"/*.esl; do
    [ -f "$f" ] && cp "$f" "$CORPUS/ofd_verify/"
  done
fi
# OCSP and RFC 3161 requests, made by openssl, for the department CA and for foreign certificates.
python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["ca_certificate_pem"])' "$WORK/dept.json" >"$WORK/ca.pem"
n=0
for issuer in "$WORK/ca.pem" certs/external-test-ca/*.pem; do
  [ -f "$issuer" ] || continue
  grep -q "BEGIN CERTIFICATE" "$issuer" || continue
  for serial in 0x01 0x7f3a9c 0x40112233445566778899aabbccddeeff; do
    n=$((n + 1))
    openssl ocsp -issuer "$issuer" -serial "$serial" -reqout "$CORPUS/ocsp_request/seed-$n" -no_nonce >/dev/null 2>&1 || true
    openssl ocsp -issuer "$issuer" -serial "$serial" -reqout "$CORPUS/ocsp_request/seed-n$n" >/dev/null 2>&1 || true
  done
done
printf 'hello' >"$WORK/data.txt"
for alg in sha256 sha384 sha512; do
  openssl ts -query -data "$WORK/data.txt" -"$alg" -cert -out "$CORPUS/tsa_request/seed-$alg" 2>/dev/null
  openssl ts -query -data "$WORK/data.txt" -"$alg" -no_nonce -out "$CORPUS/tsa_request/seed-$alg-nn" 2>/dev/null
done
stop_trustd
for t in "${TARGETS[@]}"; do echo "$t: $(ls "$CORPUS/$t" | wc -l) seeds"; done

run_one() {
  local t="$1" log="$OUT/$1.log"
  # -rss_limit_mb catches memory growth, -timeout a hang (a slow unit), -max_len lets the
  # mutator grow a PDF to 1 MiB.
  (cd fuzz && cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 -max_len=1048576 \
    -print_final_stats=1) >"$log" 2>&1
}
echo "== fuzzing ${#TARGETS[@]} targets, $SECONDS_EACH s each, two at a time"
status=0
pids=()
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  pids+=("$!:$t")
  if [ ${#pids[@]} -ge 2 ]; then
    p="${pids[0]}"; pids=("${pids[@]:1}")
    wait "${p%%:*}" || { echo "${p#*:}: FAILED (see $OUT/${p#*:}.log)"; status=1; }
  fi
done
for p in "${pids[@]}"; do
  wait "${p%%:*}" || { echo "${p#*:}: FAILED (see $OUT/${p#*:}.log)"; status=1; }
done

printf 'target\truns\tseconds\texec/s\tcov\tft\tcorpus\trss_first_mb\trss_last_mb\n' >"$OUT/summary.tsv"
for t in "${TARGETS[@]}"; do
  log="$OUT/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  secs=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  first=$(grep -m1 -E '^#[0-9]+.*(INITED|pulse|NEW|REDUCE)' "$log")
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  rss1=$(sed -n 's/.*rss: \([0-9]*\)Mb.*/\1/p' <<<"$first")
  rss2=$(sed -n 's/.*rss: \([0-9]*\)Mb.*/\1/p' <<<"$last")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$runs" "$SECONDS_EACH" "$secs" "$cov" "$ft" "$corp" "$rss1" "$rss2" >>"$OUT/summary.tsv"
done
column -t -s $'\t' "$OUT/summary.tsv"
exit "$status"
