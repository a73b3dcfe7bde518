#!/usr/bin/env bash
# Issue 16, checked by code we did not write:
# - trustd's log with two witnesses: trustd's own (`trustd witness`) and `aics-witness` (PyPI);
#   the published checkpoint must carry both cosignatures (quorum 2);
# - `aics-tlog` (PyPI) reads trustd's tiles, rebuilds the root, checks the checkpoint, the
#   cosignatures and the tlog-proofs of a licence and of a stamping
#   (scripts/interop/check_tlog.py);
# - `trustd verify --log-proof` accepts those proofs offline and refuses them beside another file;
# - an independent tlog-witness client written from the C2SP text
#   (scripts/interop/witness_client.py: Python standard library and `cryptography` only) drives
#   trustd's witness through every case of the protocol, and aics-witness as a control.
# aics-tlog and aics-witness need Python >= 3.12: the first one found is used for their venv.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; exit 1; }

PY312=""
for c in python3.13 python3.12 /root/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9]; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    PY312=$(command -v "$c"); break
  fi
done
[ -n "$PY312" ] || fail "aics-tlog and aics-witness need Python 3.12 or later, and none was found"
VENV="$REPO/target/interop-tlog-venv"
[ -x "$VENV/bin/python" ] || "$PY312" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check aics-tlog==0.2.1 aics-witness==0.1.0 cryptography
PY="$VENV/bin/python"
ensure_trustd_bin

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  stop_trustd
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_http() { # wait_http URL
  for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$1 did not answer"
}
start_trustd_witness() { # start_trustd_witness DIR NAME LOG_VKEY -> W_URL, W_VKEY
  local port; port=$(free_port)
  TRUSTD_WITNESS_MASTER_KEY=$(head -c 32 /dev/urandom | base64) RUST_LOG=warn \
    "$TRUSTD_BIN" witness --listen "127.0.0.1:$port" --data-dir "$1" --name "$2" --log "$3" \
    >"$1.log" 2>&1 &
  PIDS+=($!)
  W_URL="http://127.0.0.1:$port"
  wait_http "$W_URL/healthz"
  W_VKEY=$(curl -fsS "$W_URL/vkey")
}
start_aics_witness() { # start_aics_witness DIR NAME ORIGIN LOG_VKEY -> W_URL, W_VKEY
  local port; port=$(free_port)
  mkdir -p "$1"
  W_VKEY=$("$VENV/bin/aics-witness" init --config "$1/witness.json" --name "$2" --listen "127.0.0.1:$port" 2>/dev/null | tail -1)
  "$VENV/bin/aics-witness" add-log --config "$1/witness.json" --origin "$3" --vkey "$4" >/dev/null 2>&1
  "$VENV/bin/aics-witness" serve --config "$1/witness.json" >"$1.log" 2>&1 &
  PIDS+=($!)
  W_URL="http://127.0.0.1:$port"
  wait_http "$W_URL/healthz"
}

# The log's key exists after the first start; the witnesses are given it, then trustd is
# restarted with the witnesses configured.
start_trustd "$WORK/trustd"
LOG_VKEY=$(curl -fsS "$TRUSTD_URL/api/v1/log/key")
ORIGIN=${LOG_VKEY%%+*}
stop_trustd
start_trustd_witness "$WORK/w1" "witness1.interop.example" "$LOG_VKEY"; W1_URL=$W_URL; W1_VKEY=$W_VKEY
start_aics_witness "$WORK/w2" "witness2.interop.example" "$ORIGIN" "$LOG_VKEY"; W2_URL=$W_URL; W2_VKEY=$W_VKEY
export TRUSTD_WITNESSES="$W1_VKEY $W1_URL; $W2_VKEY $W2_URL" TRUSTD_WITNESS_QUORUM=2
start_trustd "$WORK/trustd"
unset TRUSTD_WITNESSES TRUSTD_WITNESS_QUORUM

CODE=$("$PY" -c "
cs='0123456789ABCDEFGHJKLMNPQRTUWXY'; b='11110000000000016'
s=sum(cs.index(c)*pow(3,i,31) for i,c in enumerate(b)); print(b+cs[(31-s%31)%31])")
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"见证测试局\"}" >/dev/null
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
AUDITOR=$(api POST /api/v1/api-keys '{"role":"auditor"}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# More than one full tile (300 cheap entries), so that the tile client reads full and partial
# tiles of two levels.
for i in $(seq 1 300); do api POST /api/v1/api-keys "{\"role\":\"monitor\",\"label\":\"t$i\"}" >/dev/null; done
TYPE=$(api POST /api/v1/licence-types '{"name":"见证证","holder_kind":"person","fields":[{"key":"a","label":"A"}]}' "$OP" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["type_code"])')
api POST /api/v1/licences "{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"王五\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"}}" "$OP" >"$WORK/licence.json"
LICENCE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["identifier"])' "$WORK/licence.json")
"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/licence.json" >"$WORK/token.txt"
SEAL=$(api POST /api/v1/seals '{"name":"见证测试局公章","kind":"official"}' "$OP" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$PY" -c "import sys; sys.path.insert(0, '$REPO/scripts/interop'); from tiny_pdf import tiny_pdf; open('$WORK/in.pdf','wb').write(tiny_pdf())"
curl -fsS -D "$WORK/stamp.headers" -o "$WORK/stamped.pdf" -X POST -H "Authorization: Bearer $OP" \
  -H 'Content-Type: application/pdf' --data-binary @"$WORK/in.pdf" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp"
STAMP_INDEX=$(grep -i '^trustd-log-index:' "$WORK/stamp.headers" | tr -d '\r' | awk '{print $2}')

# Both proofs become available once a checkpoint holding them is witnessed by both.
get_proof() { # get_proof PATH FILE
  for _ in $(seq 1 100); do
    code=$(curl -sS -o "$2" -w '%{http_code}' "$TRUSTD_URL$1")
    [ "$code" = 200 ] && return 0
    sleep 0.2
  done
  fail "$1: no proof after 20 s (last status $code; witness logs: $(tail -3 "$WORK/w1.log" "$WORK/w2.log"))"
}
get_proof "/api/v1/licences/$LICENCE/log-proof" "$WORK/licence.tlog-proof"
get_proof "/api/v1/log/proofs/$STAMP_INDEX" "$WORK/stamp.tlog-proof"
lines=$(curl -fsS "$TRUSTD_URL/log/checkpoint" | grep -c '^— witness[12].interop.example ')
[ "$lines" = 2 ] || fail "the published checkpoint carries $lines witness cosignatures, not 2"
pass "trustd's log cosigned by trustd witness and aics-witness (quorum 2)"

"$PY" "$REPO/scripts/interop/check_tlog.py" --url "$TRUSTD_URL" --log-vkey "$LOG_VKEY" \
  --witness-vkey "$W1_VKEY" --witness-vkey "$W2_VKEY" --quorum 2 \
  --proof "$WORK/licence.tlog-proof" --token-file "$WORK/token.txt" \
  --pdf-proof "$WORK/stamp.tlog-proof" --pdf "$WORK/stamped.pdf"

verify_logged() { # verify_logged FILE PROOF -> exit status of trustd verify
  "$TRUSTD_BIN" verify "$1" --trust "$WORK/root.pem" --revocation-optional --log-proof "$2" --log-key "$LOG_VKEY" \
    --witness "$W1_VKEY" --witness "$W2_VKEY" --quorum 2 >"$WORK/verify.json" 2>&1
}
curl -fsS "$TRUSTD_URL/ca/root.pem" >"$WORK/root.pem"
verify_logged "$WORK/token.txt" "$WORK/licence.tlog-proof" || fail "trustd verify --log-proof on the licence token: $(cat "$WORK/verify.json")"
echo "tampered" >"$WORK/other.txt"
verify_logged "$WORK/other.txt" "$WORK/licence.tlog-proof" && fail "a licence proof accepted beside another token"
verify_logged "$WORK/stamped.pdf" "$WORK/stamp.tlog-proof" || fail "trustd verify --log-proof on the stamped PDF: $(cat "$WORK/verify.json")"
grep -q '"logged": true' "$WORK/verify.json" || fail "the PDF report lacks the proof of logging"
verify_logged "$WORK/in.pdf" "$WORK/stamp.tlog-proof" && fail "a stamping proof accepted beside the unstamped PDF"
pass "trustd verify --log-proof (offline): licence token and stamped PDF logged and witnessed; other files refused"
"$TRUSTD_BIN" audit --url "$TRUSTD_URL" --token "$AUDITOR" --state "$WORK/audit.json" \
  --key "$LOG_VKEY" --witness "$W1_VKEY" --witness "$W2_VKEY" --quorum 2
pass "trustd audit with both witnesses' keys"

# The independent client against trustd's witness, and against aics-witness as a control.
SEED=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
CLIENT_ORIGIN="client.interop.example/log"
CLIENT_VKEY=$("$PY" "$REPO/scripts/interop/witness_client.py" print-vkey --seed-hex "$SEED" --origin "$CLIENT_ORIGIN")
start_trustd_witness "$WORK/w3" "witness3.interop.example" "$CLIENT_VKEY"
"$PY" "$REPO/scripts/interop/witness_client.py" run --url "$W_URL" --witness-vkey "$W_VKEY" --seed-hex "$SEED" --origin "$CLIENT_ORIGIN"
pass "independent tlog-witness client: trustd witness follows c2sp.org/tlog-witness"
start_aics_witness "$WORK/w4" "witness4.interop.example" "$CLIENT_ORIGIN" "$CLIENT_VKEY"
"$PY" "$REPO/scripts/interop/witness_client.py" run --url "$W_URL" --witness-vkey "$W_VKEY" --seed-hex "$SEED" --origin "$CLIENT_ORIGIN"
pass "independent tlog-witness client: the same cases against aics-witness (control)"
echo "interop-tlog: all checks passed"
