#!/usr/bin/env bash
# Disaster-recovery drill (issue 17), on SQLite or PostgreSQL:
#   departments, a seal, a licence, two operator keys → back up (trustd backup, or pg_dump)
#   → revoke the seal and one key → an auditor keeps `trustd audit` state and an export of the
#   log → SIGKILL, the database wiped, the backup restored → the start is refused (rollback
#   guard: the database is behind the high-water mark) → `trustd log replay` → the start works,
#   `trustd audit` passes against the saved state, `openssl ocsp` says the seal is revoked, the
#   revoked key gets 401, and the department CA's CRL number went up.
#   usage: scripts/dr-drill.sh [sqlite|postgres]   (postgres: TRUSTD_TEST_POSTGRES_URL, or the
#   local server at postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"
KIND="${1:-sqlite}"
pass() { echo "PASS [$KIND]: $*"; }
fail() { echo "FAIL [$KIND]: $*"; exit 1; }
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ensure_trustd_bin
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }

WORK=$(mktemp -d)
DATA="$WORK/data"
mkdir -p "$DATA"
export TRUSTD_DATA_DIR="$DATA"
export TRUSTD_MASTER_KEY
TRUSTD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
if [ "$KIND" = postgres ]; then
  BASE="${TRUSTD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  NAME="trustd_drill_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  psql -q "$BASE" -c "CREATE DATABASE $NAME"
  export TRUSTD_DATABASE_URL="${BASE%/*}/$NAME"
fi
cleanup() {
  stop_trustd
  if [ "$KIND" = postgres ]; then psql -q "$BASE" -c "DROP DATABASE IF EXISTS $NAME WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(free_port)
export TRUSTD_URL="http://127.0.0.1:$PORT" ADMIN="drill-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
serve() { # serve: starts trustd on DATA; returns non-zero (with its log) if it does not start
  TRUSTD_LISTEN="127.0.0.1:$PORT" TRUSTD_PUBLIC_URL="$TRUSTD_URL" TRUSTD_ADMIN_TOKEN="$ADMIN" RUST_LOG=warn \
    "$TRUSTD_BIN" serve >"$WORK/server.log" 2>&1 &
  TRUSTD_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "$TRUSTD_URL/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$TRUSTD_PID" 2>/dev/null || { wait "$TRUSTD_PID" || true; TRUSTD_PID=; return 1; }
    sleep 0.1
  done
  return 1
}

serve || fail "first start: $(cat "$WORK/server.log")"
CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市人民政府\"}" >/dev/null
OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" | jget token)
api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\"}" >"$WORK/k2.json"
K2=$(jget token <"$WORK/k2.json"); K2_ID=$(jget id <"$WORK/k2.json")
AUDITOR=$(api POST /api/v1/api-keys '{"role":"auditor"}' | jget token)
api POST /api/v1/seals '{"name":"福州市人民政府公章","kind":"official"}' "$OP" >"$WORK/seal.json"
SEAL=$(jget id <"$WORK/seal.json"); jget certificate_pem <"$WORK/seal.json" >"$WORK/seal.pem"
TYPE=$(api POST /api/v1/licence-types '{"name":"演练证","holder_kind":"person","fields":[{"key":"a","label":"A"}]}' "$OP" | jget type_code)
api POST /api/v1/licences "{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"张三\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"}}" "$OP" >/dev/null
curl -fsS "$TRUSTD_URL/ca/root.pem" >"$WORK/root.pem"
curl -fsS "$TRUSTD_URL/ca/$CODE.pem" >"$WORK/dept.pem"
crl_number() { curl -fsS "$TRUSTD_URL/crl/$CODE.crl" | openssl crl -inform DER -noout -crlnumber | cut -d= -f2; }
crl_number >/dev/null
sleep 0.5

# The backup, while trustd runs.
if [ "$KIND" = sqlite ]; then
  "$TRUSTD_BIN" backup "$WORK/backup" >"$WORK/manifest.out"
  grep -q '"database_sha256"' "$WORK/manifest.out" || fail "no manifest"
  ! grep -rqa "$TRUSTD_MASTER_KEY" "$WORK/backup" || fail "the master key is in the backup"
else
  pg_dump -Fc -f "$WORK/backup.dump" "$TRUSTD_DATABASE_URL"
fi
pass "backup taken while running (no key in it)"

# After the backup: revocations the restore would undo.
api POST "/api/v1/seals/$SEAL/revoke" '{"reason":"keyCompromise"}' "$OP" >/dev/null
api DELETE "/api/v1/api-keys/$K2_ID" >/dev/null
CRL_BEFORE=$(crl_number)
sleep 0.6
"$TRUSTD_BIN" audit --url "$TRUSTD_URL" --token "$AUDITOR" --state "$WORK/audit.json" >/dev/null
curl -fsS -H "Authorization: Bearer $AUDITOR" "$TRUSTD_URL/api/v1/log/export" >"$WORK/export.ndjson"

# The disaster.
kill -9 "$TRUSTD_PID"; wait "$TRUSTD_PID" 2>/dev/null || true; TRUSTD_PID=
if [ "$KIND" = sqlite ]; then
  rm -f "$DATA/trustd.db" "$DATA/trustd.db-wal" "$DATA/trustd.db-shm"
  "$TRUSTD_BIN" restore "$WORK/backup"
else
  psql -q "$BASE" -c "DROP DATABASE $NAME WITH (FORCE)" -c "CREATE DATABASE $NAME"
  pg_restore -d "$TRUSTD_DATABASE_URL" "$WORK/backup.dump"
fi
if serve; then fail "a database behind the high-water mark was accepted"; fi
grep -q "rollback guard" "$WORK/server.log" || fail "no rollback-guard message: $(cat "$WORK/server.log")"
pass "restored database refused at start: $(grep -o 'rollback guard.*' "$WORK/server.log" | cut -c1-140)…"

"$TRUSTD_BIN" log replay "$WORK/export.ndjson" >"$WORK/replay.json" || fail "replay: $(cat "$WORK/replay.json")"
serve || fail "start after the replay: $(cat "$WORK/server.log")"
"$TRUSTD_BIN" audit --url "$TRUSTD_URL" --token "$AUDITOR" --state "$WORK/audit.json" >/dev/null \
  || fail "trustd audit against the state saved before the disaster"
pass "replayed ($(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["entries"], "entries,", r["changes"], "revocations")' "$WORK/replay.json")); trustd audit consistent with the state saved before"
openssl ocsp -issuer "$WORK/dept.pem" -cert "$WORK/seal.pem" -url "$TRUSTD_URL/ocsp" -CAfile "$WORK/root.pem" >"$WORK/ocsp.txt" 2>&1
grep -q "seal.pem: revoked" "$WORK/ocsp.txt" || fail "openssl ocsp: $(cat "$WORK/ocsp.txt")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $K2" "$TRUSTD_URL/api/v1/seals")
[ "$code" = 401 ] || fail "the revoked key got $code"
CRL_AFTER=$(crl_number)
python3 -c "import sys; sys.exit(0 if int('$CRL_AFTER', 16) > int('$CRL_BEFORE', 16) else 1)" \
  || fail "CRL number $CRL_AFTER is not above $CRL_BEFORE"
pass "openssl ocsp: the seal is revoked; the revoked key gets 401; CRL number $CRL_BEFORE -> $CRL_AFTER"
echo "dr-drill [$KIND]: all checks passed"
