#!/usr/bin/env bash
# Checks trustd's output with independent tools: openssl for certificates, a Python script on
# the `cryptography` package for the log's checkpoint and proofs. Installs what it needs
# (Debian packages, a Python venv under target/), starts a server on a free port with a
# temporary data dir, and stops it.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
VENV="$REPO/target/interop-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check cryptography
PY="$VENV/bin/python"

WORK=$(mktemp -d)
trap 'stop_trustd; rm -rf "$WORK"' EXIT
start_trustd "$WORK"
pass() { echo "PASS: $*"; }

# --- PKI: the department CA chains to the root and carries the profile's extensions.
CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市市场监督管理局\"}" >/dev/null
curl -fsS "$TRUSTD_URL/ca/root.pem" >"$WORK/root.pem"
curl -fsS "$TRUSTD_URL/ca/$CODE.pem" >"$WORK/dept.pem"
openssl verify -CAfile "$WORK/root.pem" "$WORK/dept.pem"
pass "openssl verify: department CA chains to the root"
openssl x509 -in "$WORK/dept.pem" -noout -text >"$WORK/dept.txt"
for want in "CA:TRUE, pathlen:0" "Certificate Sign, CRL Sign" "organizationIdentifier = $CODE" \
  "X509v3 Authority Key Identifier" "X509v3 Subject Key Identifier" "/crl/root.crl" "OCSP - URI:"; do
  grep -qF "$want" "$WORK/dept.txt" || { echo "FAIL: '$want' missing from the department CA"; cat "$WORK/dept.txt"; exit 1; }
done
serial=$(openssl x509 -in "$WORK/dept.pem" -noout -serial | cut -d= -f2)
[ ${#serial} -ge 16 ] || { echo "FAIL: serial $serial shorter than 64 bits"; exit 1; }
pass "openssl x509: pathlen 0, keyCertSign+cRLSign, organizationIdentifier, AKI/SKI, CRL DP, OCSP AIA, serial $serial"
openssl x509 -in "$WORK/root.pem" -noout -text | grep -qF "CA:TRUE" && pass "root CA is a CA"

# --- The issuance log, checked by code that is not ours.
AUDITOR=$(api POST /api/v1/api-keys '{"role":"auditor","label":"interop"}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
sleep 0.5
"$PY" "$REPO/scripts/interop/verify_log.py" "$TRUSTD_URL" "$AUDITOR" >"$WORK/checkpoint1"
for n in 2 3 4 5; do
  code=$("$PY" -c "
cs='0123456789ABCDEFGHJKLMNPQRTUWXY'; b='11110000000000$n'.ljust(17,'0')
s=sum(cs.index(c)*pow(3,i,31) for i,c in enumerate(b)); print(b+cs[(31-s%31)%31])")
  api POST /api/v1/departments "{\"code\":\"$code\",\"name\":\"部门$n\"}" >/dev/null
done
sleep 0.6
"$PY" "$REPO/scripts/interop/verify_log.py" "$TRUSTD_URL" "$AUDITOR" "$WORK/checkpoint1" >"$WORK/checkpoint2"
pass "python cryptography: checkpoint signature, inclusion proofs, consistency proof"
"$TRUSTD_BIN" audit --url "$TRUSTD_URL" --token "$AUDITOR" --state "$WORK/audit.json"
"$TRUSTD_BIN" audit --url "$TRUSTD_URL" --token "$AUDITOR" --state "$WORK/audit.json"
pass "trustd audit (twice, the second checking consistency with the first)"
echo "interop: all checks passed"
