#!/usr/bin/env bash
# API conformance: schemathesis (PyPI) against a running trustd, generated from
# api-spec/openapi.yaml with every check on (server errors, status codes, content types,
# headers and bodies against the spec, schema-valid data accepted, invalid data refused,
# stateful links). Run once per role, since each role reaches different operations.
#
#   scripts/conformance.sh [MAX_EXAMPLES]     (default 25 per operation and phase)
#   STRICT_422=1 scripts/conformance.sh [N]   only the positive-data check, with 422 NOT counted
#       as an answer to schema-valid data: what it still finds are the rules no schema can
#       state (check characters, state, opaque cursors, page-size arithmetic), listed in
#       scripts/conformance/README.md.
#
# Installs schemathesis into target/conformance-venv on first use.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
MAX_EXAMPLES="${1:-25}"
CONFIG="$REPO/scripts/conformance/schemathesis.toml"
# Every check is on by default (scripts/conformance/schemathesis.toml turns one off for one
# operation); `--checks` on the command line would override that file, so it is only given in
# the STRICT_422 mode below.
CHECK_ARGS=()
if [ "${STRICT_422:-0}" = 1 ]; then
  CONFIG="$(mktemp)"
  sed 's/"409", "422", "429", "5xx"\]/"409", "429", "5xx"]/' "$REPO/scripts/conformance/schemathesis.toml" >"$CONFIG"
  CHECK_ARGS=(--checks positive_data_acceptance)
fi
SCHEMATHESIS_VERSION=4.32.5

VENV="$REPO/target/conformance-venv"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d)"
trap 'stop_trustd; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/data"
# The public endpoints' rate limit would answer 429 to a generator this fast, and so would the
# failed-authentication limit to its checks of refused keys (429 is documented for both, but it
# would hide what the endpoints answer).
TRUSTD_PUBLIC_RATE=0 TRUSTD_AUTH_FAILURES_PER_MINUTE=0 start_trustd "$WORK/data"

DEPT=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$DEPT\",\"name\":\"福州市人民政府\"}" >/dev/null
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
OPERATOR=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$DEPT\",\"label\":\"conformance\"}" | token_of)
AUDITOR=$(api POST /api/v1/api-keys '{"role":"auditor","label":"conformance"}' | token_of)
# Something for the read operations to find: a licence type, a licence and a seal.
TYPE=$(api POST /api/v1/licence-types '{"name":"居住证","holder_kind":"person","validity_days":365,"fields":[{"key":"address","label":"居住地址","required":true}]}' "$OPERATOR" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["type_code"])')
api POST /api/v1/licences "{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"张三丰\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"},\"face\":{\"address\":\"福州市鼓楼区五四路 1 号\"}}" "$OPERATOR" >/dev/null
api POST /api/v1/seals '{"name":"公章","kind":"official"}' "$OPERATOR" >/dev/null

status=0
for role in operator auditor admin; do
  case "$role" in
    operator) token="$OPERATOR" ;;
    auditor) token="$AUDITOR" ;;
    admin) token="$ADMIN" ;;
  esac
  echo "== schemathesis as $role ($MAX_EXAMPLES examples)"
  if ! SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$REPO/scripts/conformance" \
    "$VENV/bin/schemathesis" --config-file "$CONFIG" \
    run api-spec/openapi.yaml --url "$TRUSTD_URL" -H "Authorization: Bearer $token" \
    "${CHECK_ARGS[@]}" --max-examples "$MAX_EXAMPLES" --seed 20261126 --no-color \
    >"$WORK/$role.txt" 2>&1; then
    status=1
    cat "$WORK/$role.txt"
  else
    grep -E "^(Test cases|  [0-9]+ generated)|passed|failures" "$WORK/$role.txt" | tail -3
  fi
done
if grep -q "panicked" "$WORK/data/server.log"; then
  echo "the server panicked:"; grep -A3 panicked "$WORK/data/server.log"; status=1
fi
if [ "$status" -ne 0 ]; then echo "conformance: FAILED"; exit 1; fi
echo "conformance: OK"
