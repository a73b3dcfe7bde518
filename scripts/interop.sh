#!/usr/bin/env bash
# Checks trustd's output with independent tools: openssl for certificates, a Python script on
# the `cryptography` package for the log's checkpoint and proofs, `jwcrypto` for licence tokens,
# the SD-JWT reference implementation (`sd-jwt`) for selective-disclosure presentations,
# `gmssl` + `asn1crypto` (scripts/interop/verify_sm2_cert.py, verify_ofd.py) and openssl for SM2
# certificates, CRLs and sealed OFDs, the `easyofd` renderer for a stamped OFD page, `aics-tlog`
# and `aics-witness` for tiles, cosignatures and tlog-proofs (scripts/interop-tlog.sh),
# `python-stdnum` for licence identifiers, zbarimg for QR codes, and (scripts/browser-check.sh)
# headless Chromium for the citizen page. Installs what it needs (Debian packages, a Python venv
# under target/), starts a server on a free port with a temporary data dir, and stops it.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
command -v zbarimg >/dev/null || need_apt+=(zbar-tools)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need_apt[@]}"
fi
VENV="$REPO/target/interop-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check cryptography jwcrypto python-stdnum pyHanko pyhanko-cli sd-jwt gmssl asn1crypto
PY="$VENV/bin/python"

WORK=$(mktemp -d)
trap 'stop_trustd; rm -rf "$WORK"' EXIT
start_trustd "$WORK"
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
jget() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

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

# --- Licences: the token verifies with jwcrypto from the root certificate and the token's x5c
# alone; the identifier's check character with python-stdnum; the QR code with zbarimg.
OPERATOR=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\",\"label\":\"interop\"}" | jget token)
TYPE=$(api POST /api/v1/licence-types '{"name":"居住证","holder_kind":"person","fields":[{"key":"address","label":"居住地址","required":true}],"validity_days":365}' "$OPERATOR" | jget type_code)
api POST /api/v1/licences "{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"张三丰\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"},\"face\":{\"address\":\"福州市\"}}" "$OPERATOR" >"$WORK/licence.json"
ID=$(jget identifier <"$WORK/licence.json")
VERIFY_URL=$(jget verify_url <"$WORK/licence.json")
jget token <"$WORK/licence.json" >"$WORK/token.jws"
mkdir "$WORK/x5c"
"$PY" "$REPO/scripts/interop/verify_licence_token.py" "$WORK/token.jws" "$WORK/root.pem" "$WORK/x5c" "$ID" >"$WORK/payload.json"
pass "openssl verify: the token's x5c signer chains to the root through x5c[1]"
pass "jwcrypto: ES256 signature verifies with the x5c[0] key, jti = $ID; an altered payload is refused"
cmp -s <(openssl x509 -in "$WORK/x5c/x5c-dept.pem" -outform DER) <(openssl x509 -in "$WORK/dept.pem" -outform DER) \
  || fail "x5c[1] is not the department CA served at /ca/$CODE.pem"
openssl x509 -in "$WORK/x5c/signer.pem" -noout -text >"$WORK/signer.txt"
for want in "CA:FALSE" "Digital Signature" "organizationIdentifier = $CODE"; do
  grep -qF "$want" "$WORK/signer.txt" || { cat "$WORK/signer.txt"; fail "'$want' missing from the licence signer certificate"; }
done
pass "x5c[1] is the department CA; the signer is CA:FALSE with digitalSignature and organizationIdentifier $CODE"
"$PY" - "$ID" <<'PYEOF' || fail "python-stdnum: bad identifier $ID"
import sys
from stdnum.iso7064 import mod_37_36
prefix = "1.2.156.3005.2."
ident = sys.argv[1]
assert ident.startswith(prefix), ident
type_code, issuer, serial, version, check = ident[len(prefix):].split(".")
assert len(type_code) == 21 and len(serial) == 20 and len(version) == 3 and len(check) == 1, ident
assert mod_37_36.is_valid(type_code + issuer + serial + version + check), ident
PYEOF
pass "python-stdnum: identifier's check character is ISO 7064 MOD 37,36"
[ "$VERIFY_URL" = "$TRUSTD_URL/v/$ID" ] || fail "verify_url is $VERIFY_URL, not $TRUSTD_URL/v/$ID"
curl -fsS -H "Authorization: Bearer $OPERATOR" "$TRUSTD_URL/api/v1/licences/$ID/qr.png" -o "$WORK/qr.png"
# zbarimg prints D-Bus connection noise on stderr on machines without a system bus.
qr=$(zbarimg -q --raw "$WORK/qr.png" 2>"$WORK/zbar.err") || { cat "$WORK/zbar.err"; fail "zbarimg could not decode qr.png"; }
[ "$qr" = "$VERIFY_URL" ] || fail "qr.png decodes to '$qr', not '$VERIFY_URL'"
pass "zbarimg: qr.png decodes to verify_url"

# --- SD-JWT (RFC 9901): the reference implementation (Python `sd-jwt`, with the issuer key
# taken from x5c after openssl has checked it against the root) verifies the holder's copy, a
# presentation trustd made with two of the three personal claims, and the public token (no
# personal claim); trustd verifies a presentation the reference holder made.
SDJWT="$REPO/scripts/interop/verify_sd_jwt.py"
jget sd_jwt <"$WORK/licence.json" >"$WORK/full.sdjwt"
"$PY" "$SDJWT" verify "$WORK/root.pem" "$WORK/full.sdjwt" \
  '{"holder.name":"张三丰","holder.code":"11010519491231002X","face.address":"福州市"}' >/dev/null
api POST "/api/v1/licences/$ID/presentations" '{"disclose":["holder.name","face.address"]}' "$OPERATOR" \
  | jget presentation >"$WORK/two.sdjwt"
"$PY" "$SDJWT" verify "$WORK/root.pem" "$WORK/two.sdjwt" '{"holder.name":"张三丰","face.address":"福州市"}' >/dev/null
grep -q "11010519491231002X" <("$PY" "$SDJWT" verify "$WORK/root.pem" "$WORK/two.sdjwt" '{"holder.name":"张三丰","face.address":"福州市"}') \
  && fail "the two-claim presentation reveals the citizen ID"
curl -fsS "$TRUSTD_URL/api/v1/public/licences/$ID/token" >"$WORK/public.sdjwt"
"$PY" "$SDJWT" verify "$WORK/root.pem" "$WORK/public.sdjwt" '{}' >/dev/null
pass "sd-jwt (reference implementation): the holder's SD-JWT, a trustd presentation of 2 of 3 claims and the public token verify and reveal exactly their claims"
"$PY" "$SDJWT" present "$WORK/full.sdjwt" holder.code >"$WORK/holder.sdjwt"
"$PY" -c 'import json,sys; print(json.dumps({"token": open(sys.argv[1]).read().strip()}))' "$WORK/holder.sdjwt" >"$WORK/holder.json"
api POST /api/v1/verify/licence "$(cat "$WORK/holder.json")" >"$WORK/holder-report.json"
"$PY" - "$WORK/holder-report.json" <<'PYEOF' || fail "trustd on the reference holder's presentation: $(cat "$WORK/holder-report.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "sd-jwt" and r["signature_valid"] and r["chain_valid"] and r["disclosures_valid"], r
assert r["disclosed"] == {"holder.code": "11010519491231002X"}, r
PYEOF
pass "trustd verifies the reference holder's presentation (holder.code only) and reveals just that claim"

# --- RFC 3161 time-stamping, checked by openssl ts.
head -c 4096 /dev/urandom >"$WORK/data.bin"
openssl ts -query -data "$WORK/data.bin" -sha256 -cert -out "$WORK/q.tsq" 2>/dev/null
curl -fsS -H 'Content-Type: application/timestamp-query' --data-binary @"$WORK/q.tsq" "$TRUSTD_URL/tsa" -o "$WORK/r.tsr"
openssl ts -verify -in "$WORK/r.tsr" -queryfile "$WORK/q.tsq" -CAfile "$WORK/root.pem" 2>/dev/null | grep -q "Verification: OK"
openssl ts -verify -in "$WORK/r.tsr" -data "$WORK/data.bin" -CAfile "$WORK/root.pem" 2>/dev/null | grep -q "Verification: OK"
openssl ts -reply -in "$WORK/r.tsr" -token_out -out "$WORK/token.der" 2>/dev/null
openssl pkcs7 -inform DER -in "$WORK/token.der" -print_certs -out "$WORK/tsa.pem" 2>/dev/null
openssl x509 -in "$WORK/tsa.pem" -noout -text | grep -A1 "Extended Key Usage: critical" | grep -q "Time Stamping"
pass "openssl ts -verify: time-stamp token (query and data) verifies to the root; TSA EKU timeStamping is critical"
printf 'garbage' | curl -fsS -H 'Content-Type: application/timestamp-query' --data-binary @- "$TRUSTD_URL/tsa" -o "$WORK/bad.tsr"
openssl ts -reply -in "$WORK/bad.tsr" -text 2>/dev/null | grep -q "Status: Rejected"
pass "openssl ts: a malformed request gets an RFC 3161 rejection"

# --- Revocation (needs no sample): CRLs verify with openssl; OCSP says good, then revoked
# after a revocation, and pyHanko (revocation information forced) goes from TRUSTED to REVOKED.
python3 "$REPO/scripts/interop/make_pdf.py" 20000 "$WORK/plain.pdf"
cat "$WORK/dept.pem" "$WORK/root.pem" >"$WORK/chain.pem"
for ca in root "$CODE"; do
  curl -fsS "$TRUSTD_URL/crl/$ca.crl" -o "$WORK/$ca.crl"
  openssl crl -inform DER -in "$WORK/$ca.crl" -CAfile "$WORK/chain.pem" -noout 2>&1 | grep -q "verify OK" \
    || fail "openssl crl -verify of the $ca CRL"
done
api POST /api/v1/seals '{"name":"待撤销印章","kind":"other"}' "$OPERATOR" >"$WORK/victim.json"
VICTIM=$(jget id <"$WORK/victim.json")
jget certificate_pem <"$WORK/victim.json" >"$WORK/victim.pem"
ocsp_status() {
  openssl ocsp -issuer "$WORK/dept.pem" -cert "$WORK/victim.pem" -url "$TRUSTD_URL/ocsp" -CAfile "$WORK/root.pem" 2>&1
}
ocsp_status | grep -q "victim.pem: good" || fail "openssl ocsp: expected good: $(ocsp_status)"
curl -sS -o "$WORK/victim.pdf" -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/pdf' \
  --data-binary @"$WORK/plain.pdf" "$TRUSTD_URL/api/v1/seals/$VICTIM/stamp"
before=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/victim.pdf" 2>/dev/null || true)
echo "$before" | grep -q ":INTACT:TRUSTED" || fail "pyHanko --force-revinfo before the revocation: $before"
api POST "/api/v1/seals/$VICTIM/revoke" '{"reason":"keyCompromise"}' "$OPERATOR" >/dev/null
ocsp_status | grep -q "victim.pem: revoked" || fail "openssl ocsp: expected revoked: $(ocsp_status)"
ocsp_status | grep -q "Reason: keyCompromise" || fail "openssl ocsp: reason"
curl -fsS "$TRUSTD_URL/crl/$CODE.crl" | openssl crl -inform DER -noout -text | grep -qi "$(openssl x509 -in "$WORK/victim.pem" -noout -serial | cut -d= -f2)" \
  || fail "the department CRL does not list the revoked seal"
# (pyHanko exits non-zero for a revoked signer: keep its output, not its status.)
after=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/victim.pdf" 2>/dev/null || true)
echo "$after" | grep -q ":INTACT:REVOKED" || fail "pyHanko --force-revinfo after the revocation: $after"
pass "revocation: openssl crl -verify (root and department CRLs); openssl ocsp good, then revoked (keyCompromise) and listed in the CRL; pyHanko --force-revinfo TRUSTED, then REVOKED"

# --- Electronic seals: every good sample stamped (visible, B-T) and judged by pyHanko (which
# fetches our CRLs and OCSP answers), pdfsig, openssl cms and openssl ts.
register_anchor() { # register_anchor LABEL PEM_FILE [REVOCATION_REQUIRED] -> the anchor's id
  # The test PKIs publish no CRL or OCSP: registered as not requiring revocation data.
  "$PY" -c 'import json,sys; print(json.dumps({"label": sys.argv[1], "pem": open(sys.argv[2]).read(), "revocation_required": sys.argv[3] == "true"}))' \
    "$1" "$2" "${3:-false}" >"$WORK/anchor.json"
  api POST /api/v1/trust-anchors "$(cat "$WORK/anchor.json")" | jget id
}

SAMPLES="${TRUSTD_SAMPLES_DIR:-$REPO/../shared/pdf-samples}"
if [ ! -f "$SAMPLES/MANIFEST.tsv" ] && [ -n "${CI:-}" ]; then
  fail "no sample PDFs at $SAMPLES: CI must not skip the PDF interop (set TRUSTD_SAMPLES_DIR)"
fi
if [ -f "$SAMPLES/MANIFEST.tsv" ]; then
  command -v pdfsig >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 poppler-utils; }
  command -v certutil >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 libnss3-tools
  SEAL=$(api POST /api/v1/seals '{"name":"福州市市场监督管理局公章","kind":"official"}' "$OPERATOR" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  NSS="$WORK/nss"; mkdir -p "$NSS"
  certutil -N -d "sql:$NSS" --empty-password
  certutil -A -d "sql:$NSS" -n trustd-root -t "CT,C,C" -a -i "$WORK/root.pem"
  [ -f "$SAMPLES/existing-signer-root.pem" ] && certutil -A -d "sql:$NSS" -n existing -t "CT,C,C" -a -i "$SAMPLES/existing-signer-root.pem"
  TRUST=(--trust "$WORK/root.pem")
  [ -f "$SAMPLES/existing-signer-root.pem" ] && TRUST+=(--trust "$SAMPLES/existing-signer-root.pem")
  stamp() { # stamp IN OUT QUERY -> HTTP status
    curl -sS -o "$2" -w '%{http_code}' -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/pdf' \
      --data-binary @"$1" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp$3"
  }
  judge() { # judge FILE: every signature INTACT:TRUSTED without illegal modifications
    local out
    out=$("$VENV/bin/pyhanko" sign validate --no-strict-syntax "${TRUST[@]}" "$1" 2>/dev/null | grep -v WARNING || true)
    if ! echo "$out" | grep -q ":INTACT:TRUSTED" || echo "$out" | grep -qv ":INTACT:TRUSTED" || echo "$out" | grep -q "ILLEGAL"; then
      echo "FAIL: pyHanko on $1:"; echo "$out"; return 1
    fi
  }
  mkdir -p "$REPO/target/interop"
  n=0
  while IFS=$'\t' read -r file _ _ _ _ _ _ _ _ expected _; do
    [ "$file" = file ] && continue
    out="$WORK/sealed.pdf"
    code=$(stamp "$SAMPLES/$file" "$out" "?reason=interop&x=300&y=60")
    case "$expected" in
      seal-ok)
        [ "$code" = 200 ] || { echo "FAIL: $file -> HTTP $code"; cat "$out"; exit 1; }
        cmp -s -n "$(stat -c %s "$SAMPLES/$file")" "$SAMPLES/$file" "$out" || { echo "FAIL: $file: original not kept as prefix"; exit 1; }
        judge "$out"
        ps=$(pdfsig -nssdir "sql:$NSS" "$out" 2>&1)
        valid=$(echo "$ps" | grep -c "Signature is Valid." || true)
        sigs=$(echo "$ps" | grep -c "Signature Validation:" || true)
        [ "$valid" = "$sigs" ] && [ "$sigs" -ge 1 ] || { echo "FAIL: pdfsig on $file:"; echo "$ps"; exit 1; }
        mkdir -p "$WORK/parts"; rm -f "$WORK/parts/"*
        imprint=$("$PY" "$REPO/scripts/interop/pdf_signature.py" parts "$out" "$WORK/parts")
        openssl cms -verify -binary -inform DER -in "$WORK/parts/cms.der" -content "$WORK/parts/signed.bin" \
          -CAfile "$WORK/root.pem" -purpose any -out /dev/null 2>/dev/null || { echo "FAIL: openssl cms -verify on $file"; exit 1; }
        openssl ts -verify -token_in -in "$WORK/parts/tst.der" -digest "$imprint" -CAfile "$WORK/root.pem" 2>/dev/null \
          | grep -q "Verification: OK" || { echo "FAIL: openssl ts -verify of the signature time-stamp of $file"; exit 1; }
        n=$((n + 1))
        ;;
      reject-*)
        [ "${code:0:1}" = 4 ] || { echo "FAIL: $file ($expected) -> HTTP $code"; exit 1; }
        grep -q "/problems/${expected#reject-}" "$out" || { echo "FAIL: $file: problem type"; cat "$out"; exit 1; }
        ;;
    esac
  done <"$SAMPLES/MANIFEST.tsv"
  pass "seals: $n good samples stamped (visible, B-T); pyHanko INTACT:TRUSTED, pdfsig 'Signature is Valid.', openssl cms -verify, openssl ts -verify of the signature time-stamp; bad samples refused with their problem type"

  first=$(tail -n +2 "$SAMPLES/MANIFEST.tsv" | awk -F'\t' '$10=="seal-ok" {print $1; exit}')
  stamp "$SAMPLES/$first" "$WORK/once.pdf" "?page=1&x=300&y=60" >/dev/null
  stamp "$WORK/once.pdf" "$WORK/twice.pdf" "?page=1&x=100&y=60" >/dev/null
  judge "$WORK/twice.pdf"
  [ "$("$VENV/bin/pyhanko" sign validate "${TRUST[@]}" "$WORK/twice.pdf" 2>/dev/null | grep -c ':INTACT:TRUSTED')" = 2 ]
  pass "pyHanko: a file stamped twice has two valid signatures"
  cp "$WORK/once.pdf" "$WORK/corrupt.pdf"
  printf 'X' | dd of="$WORK/corrupt.pdf" bs=1 seek=200 conv=notrunc 2>/dev/null
  if "$VENV/bin/pyhanko" sign validate "${TRUST[@]}" "$WORK/corrupt.pdf" 2>/dev/null | grep -q ":INTACT:"; then
    echo "FAIL: pyHanko accepted a corrupted sealed file"; exit 1
  fi
  pass "pyHanko: a sealed file with one byte changed is reported invalid"
  # Certified documents (DocMDP, made by pyHanko with a CA of its own): P=1 is refused; with
  # P=2 an empty signature field is filled (visible), and without one the seal is invisible.
  mkdir -p "$WORK/certifier"; (
    cd "$WORK/certifier"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
      -subj "/CN=Interop Certifier Root" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout signer.key -out signer.csr -subj "/CN=Interop Certifier" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n' >ext.cnf
    openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out signer.pem -days 30 -extfile ext.cnf 2>/dev/null
  )
  TRUST+=(--trust "$WORK/certifier/ca.pem")
  certify() { # certify IN OUT PERMS
    "$PY" "$REPO/scripts/interop/certify.py" "$1" "$2" "$WORK/certifier/signer.key" "$WORK/certifier/signer.pem" "$WORK/certifier/ca.pem" "$3"
  }
  stamp_headers() { # stamp_headers IN OUT -> headers on stdout
    curl -sS -D - -o "$2" -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/pdf' \
      --data-binary @"$1" "$TRUSTD_URL/api/v1/seals/$SEAL/stamp?page=1&x=300&y=60"
  }
  "$VENV/bin/pyhanko" sign addfields --field '1/100,100,300,180/Approval' "$SAMPLES/$first" "$WORK/with-field.pdf"
  certify "$WORK/with-field.pdf" "$WORK/certified-field.pdf" fill_forms
  certify "$SAMPLES/$first" "$WORK/certified-plain.pdf" fill_forms
  certify "$SAMPLES/$first" "$WORK/certified-locked.pdf" nochanges
  headers=$(stamp_headers "$WORK/certified-locked.pdf" "$WORK/out-locked.pdf")
  echo "$headers" | head -1 | grep -q " 422" && grep -q "/problems/certified-no-changes" "$WORK/out-locked.pdf" \
    || fail "a DocMDP P=1 document was not refused: $headers"
  for case in field:true plain:false; do
    name=${case%%:*}; want=${case#*:}
    headers=$(stamp_headers "$WORK/certified-$name.pdf" "$WORK/sealed-$name.pdf")
    echo "$headers" | grep -qi "^trustd-seal-visible: $want" || fail "certified ($name): expected Trustd-Seal-Visible: $want: $headers"
    judge "$WORK/sealed-$name.pdf"
    [ "$("$VENV/bin/pyhanko" sign validate "${TRUST[@]}" "$WORK/sealed-$name.pdf" 2>/dev/null | grep -c ':INTACT:TRUSTED')" = 2 ] \
      || fail "certified ($name): pyHanko does not see two valid signatures"
  done
  pass "certified documents: DocMDP P=1 refused (certified-no-changes); P=2 with an empty field filled visibly, without one sealed invisibly; pyHanko: certification and seal both valid, no disallowed change"
  # Long-term levels: B-LT adds a DSS, B-LTA a document time-stamp after it. pyHanko validates
  # them with revocation information forced now, and (after the server is stopped, below)
  # AdES-style from what the file carries alone.
  for level in B-T B-LT B-LTA; do
    for f in "$first" qpdf-objstm-xrefstream.pdf; do
      code=$(stamp "$SAMPLES/$f" "$WORK/$level-$f" "?level=$level")
      [ "$code" = 200 ] || fail "stamp $level $f -> HTTP $code"
      out=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/$level-$f" 2>/dev/null || true)
      echo "$out" | grep -q ":INTACT:TRUSTED" || fail "pyHanko --force-revinfo on $level $f: $out"
      if [ "$level" = B-LTA ]; then
        echo "$out" | grep -q "EXTENDED_WITH_LTA_UPDATES" || fail "pyHanko does not see the LTA updates of $f: $out"
      fi
    done
  done
  pass "pyHanko --force-revinfo: B-LT and B-LTA seals INTACT:TRUSTED (B-LTA: EXTENDED_WITH_LTA_UPDATES), classic and stream xref"
  pdftoppm -png -r 60 -f 1 -l 1 "$WORK/once.pdf" "$REPO/target/interop/stamped-page"

  # --- Verification: our report's indication (TOTAL-PASSED or not) against pyHanko's verdict
  # (valid or not), both trusting the same roots, on every sample, our stamped outputs (B-T,
  # B-LT, B-LTA, twice-sealed, certified), and tampered copies.
  ours() { # ours FILE -> indication, NO_SIGNATURE_FOUND, or HTTP-<status> for a refusal
    local code
    code=$(curl -sS -o "$WORK/report.json" -w '%{http_code}' -H 'Content-Type: application/pdf' --data-binary @"$1" "$TRUSTD_URL/api/v1/verify/pdf")
    if [ "$code" = 200 ]; then
      "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("NO_SIGNATURE_FOUND" if r.get("sub_indication") == "NO_SIGNATURE_FOUND" else r["indication"])' <"$WORK/report.json"
    else
      echo "HTTP-$code"
    fi
  }
  theirs() { # theirs FILE -> pyHanko's indication (scripts/attacks/pyhanko_judge.py), ERROR:… if it cannot judge
    "$PY" "$REPO/scripts/attacks/pyhanko_judge.py" --revocation optional "$WORK/all-roots.pem" "$1" 2>/dev/null | cut -f2
  }
  agree() { # agree FILE : the two indications must be the same; a refusal or an error never agrees
    local file=$1 o t
    o=$(ours "$file"); t=$(theirs "$file")
    if [ "$o" = "$t" ] && [ "${o#HTTP-}" = "$o" ] && [ "${t#ERROR}" = "$t" ]; then
      compared=$((compared + 1))
    else
      fail "verification disagrees on $(basename "$file"): trustd $o, pyHanko $t"
    fi
  }
  # A PDF signed by pyHanko under a CA of its own: no chain until that CA is registered.
  o=$(ours "$WORK/certified-plain.pdf")
  [ "$o" = INDETERMINATE ] && [ "$(jget sub_indication <"$WORK/report.json")" = NO_CERTIFICATE_CHAIN_FOUND ] \
    || fail "before registration: $o $(cat "$WORK/report.json")"
  t=$("$PY" "$REPO/scripts/attacks/pyhanko_judge.py" "$WORK/root.pem" "$WORK/certified-plain.pdf" 2>/dev/null | cut -f2)
  [ "$t" = INDETERMINATE ] || fail "pyHanko on a PDF under an unknown CA: $t"
  register_anchor "Interop certifier root" "$WORK/certifier/ca.pem" >/dev/null
  [ -f "$SAMPLES/existing-signer-root.pem" ] && register_anchor "Sample existing signer root" "$SAMPLES/existing-signer-root.pem" >/dev/null
  [ "$(ours "$WORK/certified-plain.pdf")" = TOTAL-PASSED ] || fail "after registration: $(cat "$WORK/report.json")"
  pass "verification: a pyHanko-certified PDF is INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND until its root is a trust anchor, then TOTAL-PASSED"
  compared=0; refused=0; padded=0
  cat "$WORK/root.pem" "$WORK/certifier/ca.pem" >"$WORK/all-roots.pem"
  [ -f "$SAMPLES/existing-signer-root.pem" ] && cat "$SAMPLES/existing-signer-root.pem" >>"$WORK/all-roots.pem"
  mkdir -p "$WORK/judged"
  while IFS=$'\t' read -r file _ _ _ _ _ _ _ _ expected _; do
    [ "$file" = file ] && continue
    case "$expected" in
      reject-*)
        # Not a readable PDF (or encrypted): refused with a 4xx, which is no agreement.
        o=$(ours "$SAMPLES/$file")
        [ "${o:0:6}" = HTTP-4 ] || fail "verification of $file ($expected): $o"
        refused=$((refused + 1))
        continue
        ;;
    esac
    agree "$SAMPLES/$file"
    if [ "$expected" = seal-ok ]; then
      out="$WORK/judged/$(basename "$file")"
      stamp "$SAMPLES/$file" "$out" "?x=300&y=60" >/dev/null
      agree "$out"
      # Sealed a second time: both seals judged.
      stamp "$out" "$out.twice" "?x=100&y=60" >/dev/null
      agree "$out.twice"
      # One byte changed inside the signed bytes (invalid for both), and one outside them, in
      # the zero padding after the CMS: not signed, so pyHanko still passes it, but /Contents is
      # then more than the CMS and zero padding, which trustd refuses (FORMAT_FAILURE): a known
      # disagreement, checked as such.
      cp "$out" "$out.inside"; printf 'X' | dd of="$out.inside" bs=1 seek=200 conv=notrunc 2>/dev/null
      agree "$out.inside"
      gap_end=$("$PY" -c 'import re,sys; d=open(sys.argv[1],"rb").read(); m=list(re.finditer(rb"/ByteRange \[\s*0\s+(\d+)\s+(\d+)", d))[-1]; print(int(m.group(2)) - 2)' "$out")
      cp "$out" "$out.padding"; printf '1' | dd of="$out.padding" bs=1 seek="$gap_end" conv=notrunc 2>/dev/null
      o=$(ours "$out.padding"); t=$(theirs "$out.padding")
      [ "$o" = TOTAL-FAILED ] && [ "$(jget sub_indication <"$WORK/report.json")" = FORMAT_FAILURE ] && [ "$t" = TOTAL-PASSED ] \
        || fail "non-zero /Contents padding of $(basename "$out"): trustd $o, pyHanko $t"
      padded=$((padded + 1))
    fi
  done <"$SAMPLES/MANIFEST.tsv"
  for f in "$WORK/twice.pdf" "$WORK/sealed-field.pdf" "$WORK/sealed-plain.pdf" "$WORK"/B-LT-* "$WORK"/B-LTA-* "$WORK/corrupt.pdf"; do
    agree "$f"
  done
  pass "verification: $refused unreadable or encrypted samples refused with a 4xx; trustd's indication is pyHanko's on $compared files (every sample, each good one sealed once and twice, our stamped outputs at every level, certified files, copies changed inside the signed bytes); $padded copies with a non-zero byte in the /Contents padding FORMAT_FAILURE for trustd (TOTAL-PASSED for pyHanko, which ignores it)"
  # Offline, revocation comes from the file alone: a B-T seal has none (INDETERMINATE/TRY_LATER
  # unless the caller accepts that), a B-LT seal carries it in its DSS.
  "$TRUSTD_BIN" verify --trust "$WORK/root.pem" "$WORK/twice.pdf" >"$WORK/offline.json" && fail "trustd verify passed a B-T seal offline without revocation data"
  [ "$(jget sub_indication <"$WORK/offline.json")" = TRY_LATER ] || fail "offline B-T without revocation data: $(cat "$WORK/offline.json")"
  "$TRUSTD_BIN" verify --revocation-optional --trust "$WORK/root.pem" "$WORK/twice.pdf" >/dev/null || fail "trustd verify --revocation-optional (offline) on a sealed file"
  "$TRUSTD_BIN" verify --trust "$WORK/root.pem" "$WORK/B-LT-$first" >"$WORK/offline.json" || fail "trustd verify (offline) on a B-LT seal: $(cat "$WORK/offline.json")"
  if "$TRUSTD_BIN" verify --revocation-optional --trust "$WORK/root.pem" "$WORK/corrupt.pdf" >/dev/null; then fail "trustd verify accepted a corrupted file"; fi
  "$TRUSTD_BIN" verify "$WORK/twice.pdf" >"$WORK/offline.json" && fail "trustd verify without a trust anchor passed"
  [ "$(jget indication <"$WORK/offline.json")" = INDETERMINATE ] || fail "offline without anchors: $(cat "$WORK/offline.json")"
  pass "trustd verify (offline): a B-LT seal passes from its DSS alone; a B-T seal is INDETERMINATE/TRY_LATER unless --revocation-optional; non-zero for a corrupted file and without a trust anchor"
  pass "pdftoppm: first page of a stamped sample rendered to target/interop/stamped-page-1.png"
else
  echo "SKIP: no sample PDFs at $SAMPLES (set TRUSTD_SAMPLES_DIR)"
fi

# --- The attack corpus (scripts/attacks/make_corpus.py, made afresh): every forgery is judged
# not TOTAL-PASSED (or refused) and its verdict names what is wrong, every benign control is
# TOTAL-PASSED, offline and over HTTP; pyHanko judges every file too, and each place where its
# indication differs from trustd's must be listed with its reason in
# scripts/attacks/known-disagreements.tsv.
CORPUS="$WORK/corpus"
"$PY" "$REPO/scripts/attacks/make_corpus.py" "$CORPUS" >/dev/null
"$REPO/scripts/attacks/check_trustd.sh" "$CORPUS" "$TRUSTD_BIN" >"$WORK/corpus-offline.txt" \
  || { grep -v " OK$" "$WORK/corpus-offline.txt"; fail "attack corpus, offline"; }
http_corpus() { # http_corpus MODE: the rows whose revocation column is MODE
  local f exp cls must desc rev code ind named
  while IFS=$'\t' read -r f exp cls must desc rev; do
    case "$f" in "#"*|"") continue ;; esac
    [ "$rev" = "$1" ] || continue
    code=$(curl -sS -o "$WORK/c.json" -w '%{http_code}' -H 'Content-Type: application/pdf' \
      --data-binary @"$CORPUS/$f" "$TRUSTD_URL/api/v1/verify/pdf")
    if [ "$code" = 200 ]; then ind=$(jget indication <"$WORK/c.json"); else ind="HTTP-$code"; fi
    named=yes
    [ "$must" = - ] || grep -qiF -- "$must" "$WORK/c.json" || named=no
    case "$exp" in
      TOTAL-PASSED) [ "$ind" = TOTAL-PASSED ] ;;
      NOT-PASSED) [ "$named" = yes ] && { { [ "$code" = 200 ] && [ "$ind" != TOTAL-PASSED ]; } || [ "${code:0:1}" = 4 ]; } ;;
      BOUNDED) [ "$code" = 200 ] || [ "${code:0:1}" = 4 ] ;;
      *) [ "$ind" = "$exp" ] && [ "$named" = yes ] ;;
    esac || fail "attack corpus over HTTP: $f: expected $exp naming '$must', got $ind: $(head -c 800 "$WORK/c.json")"
    n_http=$((n_http + 1))
  done <"$CORPUS/MANIFEST.tsv"
}
n_http=0
CID=$(register_anchor "Attack corpus root (revocation required)" "$CORPUS/root.pem" true)
http_corpus required
curl -fsS -X DELETE -H "Authorization: Bearer $ADMIN" "$TRUSTD_URL/api/v1/trust-anchors/$CID" >/dev/null
register_anchor "Attack corpus root" "$CORPUS/root.pem" false >/dev/null
http_corpus optional
n_rows=$(grep -vc '^#' "$CORPUS/MANIFEST.tsv")
[ "$n_http" = "$n_rows" ] || fail "attack corpus over HTTP: $n_http of $n_rows rows checked"
pass "attack corpus: $n_rows files ($(grep -c $'\tTOTAL-PASSED\t' "$CORPUS/MANIFEST.tsv") benign controls TOTAL-PASSED, every forgery not TOTAL-PASSED and named), offline (trustd verify) and over HTTP"
"$PY" "$REPO/scripts/attacks/agreement.py" "$CORPUS" "$TRUSTD_BIN" "$REPO/scripts/attacks/known-disagreements.tsv" \
  >"$WORK/corpus-agreement.txt" || { grep -v "^known" "$WORK/corpus-agreement.txt"; fail "trustd and pyHanko disagree on the corpus where no reason is listed"; }
pass "attack corpus against pyHanko: $(tail -1 "$WORK/corpus-agreement.txt") (reasons in scripts/attacks/known-disagreements.tsv)"

# --- National cryptography (issue 15): the SM2 hierarchy checked by openssl and by gmssl; OFDs
# sealed by trustd checked by an independent verifier (gmssl + asn1crypto, none of our code),
# a copy with one changed byte refused by both; OFDs sealed by other systems (ofdrw, a tax
# bureau) judged by trustd; the stamped page rendered by easyofd.
OFD_OUT="$REPO/target/interop-ofd"; mkdir -p "$OFD_OUT"
curl -fsS "$TRUSTD_URL/ca/root-sm2.pem" >"$WORK/root-sm2.pem"
curl -fsS "$TRUSTD_URL/ca/$CODE-sm2.pem" >"$WORK/dept-sm2.pem"
openssl x509 -in "$WORK/dept-sm2.pem" -noout -text >"$WORK/dept-sm2.txt"
for want in "SM2-with-SM3" "ASN1 OID: SM2" "CA:TRUE, pathlen:0" "Certificate Sign, CRL Sign" "organizationIdentifier = $CODE" \
  "/crl/root-sm2.crl" "OCSP - URI:" "X509v3 Authority Key Identifier"; do
  grep -qF "$want" "$WORK/dept-sm2.txt" || { echo "FAIL: '$want' missing from the department SM2 CA"; cat "$WORK/dept-sm2.txt"; exit 1; }
done
openssl verify -CAfile "$WORK/root-sm2.pem" -vfyopt distid:1234567812345678 "$WORK/root-sm2.pem" >/dev/null \
  || fail "openssl verify (distid 1234567812345678) of the self-signed SM2 root"
"$PY" "$REPO/scripts/interop/verify_sm2_cert.py" "$WORK/dept-sm2.pem" "$WORK/root-sm2.pem" >/dev/null \
  || fail "gmssl: the department SM2 CA's signature by the SM2 root"
for ca in root-sm2 "$CODE-sm2"; do
  curl -fsS "$TRUSTD_URL/crl/$ca.crl" -o "$WORK/$ca.crl"
  openssl crl -inform DER -in "$WORK/$ca.crl" -noout -text | grep -qF "SM2-with-SM3" || fail "openssl crl: the $ca CRL"
done
"$PY" "$REPO/scripts/interop/verify_sm2_cert.py" --crl "$WORK/$CODE-sm2.crl" "$WORK/dept-sm2.pem" >/dev/null \
  || fail "gmssl: the department SM2 CRL's signature"
"$PY" "$REPO/scripts/interop/verify_sm2_cert.py" --crl "$WORK/root-sm2.crl" "$WORK/root-sm2.pem" >/dev/null \
  || fail "gmssl: the root SM2 CRL's signature"
pass "SM2 hierarchy: openssl x509 (SM2-with-SM3, curve SM2, pathlen 0, organizationIdentifier, CRL DP, OCSP, AKI), openssl verify -vfyopt distid of the root, gmssl of the CA and both SM2 CRLs"

NSEAL=$(api POST /api/v1/seals '{"name":"福州市市场监督管理局合同专用章","kind":"contract"}' "$OPERATOR" | jget id)
curl -fsS -H "Authorization: Bearer $OPERATOR" "$TRUSTD_URL/api/v1/seals/$NSEAL/esl" -o "$WORK/seal.esl"
"$PY" - "$WORK/seal.esl" "$WORK/seal-sm2.pem" <<'PYEOF' || fail "asn1crypto: the SESeal"
import sys, base64
from asn1crypto import core
seal = core.Sequence.load(open(sys.argv[1], "rb").read())
info = seal[0].parse() if hasattr(seal[0], "parse") else seal[0]
header = core.Sequence.load(seal[0].dump())[0]
h = core.Sequence.load(header.dump())
assert h[0].native == "ES" and h[1].native == 4, "header ES/4"
prop = core.Sequence.load(core.Sequence.load(seal[0].dump())[2].dump())
cert = core.Sequence.load(prop[3].dump())[0]
der = core.OctetString.load(cert.dump()).native
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode() + "-----END CERTIFICATE-----\n")
PYEOF
"$PY" "$REPO/scripts/interop/verify_sm2_cert.py" "$WORK/seal-sm2.pem" "$WORK/dept-sm2.pem" >/dev/null \
  || fail "gmssl: the seal's SM2 certificate (from its SESeal) by the department SM2 CA"
python3 "$REPO/scripts/interop/make_ofd.py" "$WORK/plain.ofd" "合同 第1页" "合同 第2页"
seal_ofd() { # seal_ofd IN OUT [QUERY]
  local code
  code=$(curl -sS -o "$2" -w '%{http_code}' -H "Authorization: Bearer $OPERATOR" -H 'Content-Type: application/ofd' \
    --data-binary @"$1" "$TRUSTD_URL/api/v1/seals/$NSEAL/stamp${3:-}")
  [ "$code" = 200 ] || fail "sealing $1: HTTP $code $(cat "$2")"
}
check_ofd() { # check_ofd FILE: the independent verifier, chained to the SM2 root, time-stamp required
  "$PY" "$REPO/scripts/interop/verify_ofd.py" --openssl-sm3 --require-timestamp \
    --ca "$WORK/root-sm2.pem" --ca "$WORK/dept-sm2.pem" "$1" >"$WORK/ofd-check.json"
}
trustd_ofd() { # trustd_ofd FILE -> the indication of POST /api/v1/verify/ofd
  curl -fsS -H 'Content-Type: application/ofd' --data-binary @"$1" "$TRUSTD_URL/api/v1/verify/ofd" | jget indication
}
seal_ofd "$WORK/plain.ofd" "$WORK/once.ofd" "?page=2&x=140&y=230"
seal_ofd "$WORK/once.ofd" "$WORK/twice.ofd" "?page=1&x=20&y=20"
check_ofd "$WORK/once.ofd" || fail "verify_ofd.py on a trustd-sealed OFD: $(cat "$WORK/ofd-check.json")"
check_ofd "$WORK/twice.ofd" || fail "verify_ofd.py on an OFD sealed twice (the first must stay valid): $(cat "$WORK/ofd-check.json")"
[ "$(trustd_ofd "$WORK/twice.ofd")" = TOTAL-PASSED ] || fail "trustd: the OFD sealed twice"
"$PY" - "$WORK/twice.ofd" "$WORK/changed.ofd" <<'PYEOF'
import sys, zipfile
src, dst = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED)
for item in src.infolist():
    data = src.read(item.filename)
    if item.filename == "Doc_0/Pages/Page_1/Content.xml":
        data = data.replace("第2页".encode(), "第3页".encode())
    dst.writestr(item.filename, data)
dst.close()
PYEOF
if check_ofd "$WORK/changed.ofd"; then fail "verify_ofd.py accepted an OFD changed after sealing"; fi
[ "$(trustd_ofd "$WORK/changed.ofd")" = TOTAL-FAILED ] || fail "trustd: an OFD changed after sealing"
"$TRUSTD_BIN" verify --revocation-optional --trust "$WORK/root-sm2.pem" "$WORK/twice.ofd" >/dev/null \
  || fail "trustd verify (offline) on the OFD sealed twice"
pass "OFD: trustd's seals (one, then a second on another page) verify with verify_ofd.py (gmssl + asn1crypto: references, coverage, dataHash, SM2 signature, maker signature, cert list, chain to the SM2 root, SM2 time-stamp) and with trustd online and offline; one changed character fails both"

OFD_SAMPLES="${TRUSTD_OFD_SAMPLES_DIR:-$REPO/../shared/ofd-samples}"
if [ ! -f "$OFD_SAMPLES/SESV4SignDoc.ofd" ] && [ -n "${CI:-}" ]; then
  fail "no OFD samples at $OFD_SAMPLES: CI must not skip them (set TRUSTD_OFD_SAMPLES_DIR)"
fi
if [ -f "$OFD_SAMPLES/SESV4SignDoc.ofd" ]; then
  for f in SESV4SignDoc v4signed; do
    curl -fsS -H 'Content-Type: application/ofd' --data-binary @"$OFD_SAMPLES/$f.ofd" "$TRUSTD_URL/api/v1/verify/ofd" >"$WORK/$f.json"
    "$PY" - "$WORK/$f.json" "$f" <<'PYEOF' || fail "trustd on $f.ofd: $(cat "$WORK/$f.json")"
import json, sys
r = json.load(open(sys.argv[1]))
for s in r["signatures"]:
    for k in ("digest_ok", "data_hash_ok", "signature_ok", "seal_maker_signature_ok", "signer_in_seal"):
        assert s[k] is True, (sys.argv[2], k)
    assert s["uncovered"] == [], s["uncovered"]
    assert s["indication"] == "INDETERMINATE", s["indication"]   # intact, not anchored
PYEOF
  done
  curl -fsS -H 'Content-Type: application/ofd' --data-binary @"$OFD_SAMPLES/SESV4SignDoc-page-changed.ofd" "$TRUSTD_URL/api/v1/verify/ofd" \
    | jget indication | grep -qx TOTAL-FAILED || fail "trustd on SESV4SignDoc-page-changed.ofd"
  # Another producer's OFDs sealed by trustd: the unsigned one, and ofdrw's sealed one (its seal
  # must stay intact beside ours, the continue rule both ways).
  seal_ofd "$OFD_SAMPLES/helloworld.ofd" "$WORK/hello-sealed.ofd"
  check_ofd "$WORK/hello-sealed.ofd" || fail "verify_ofd.py on helloworld.ofd sealed by trustd: $(cat "$WORK/ofd-check.json")"
  seal_ofd "$OFD_SAMPLES/SESV4SignDoc.ofd" "$WORK/ofdrw-plus-trustd.ofd"
  "$PY" "$REPO/scripts/interop/verify_ofd.py" --openssl-sm3 "$WORK/ofdrw-plus-trustd.ofd" >"$WORK/ofd-check.json" \
    || fail "verify_ofd.py on ofdrw's sealed OFD sealed again by trustd: $(cat "$WORK/ofd-check.json")"
  pass "OFD samples: trustd finds ofdrw's and the tax bureau's seals intact (INDETERMINATE: roots not public) and the changed page TOTAL-FAILED; trustd's seal on their files verifies with verify_ofd.py, ofdrw's seal still intact beside it"
fi
RENDER_VENV="$REPO/target/interop-render-venv"
[ -x "$RENDER_VENV/bin/python" ] || python3 -m venv "$RENDER_VENV"
"$RENDER_VENV/bin/pip" install -q --disable-pip-version-check easyofd==20260427 PyMuPDF==1.28.2 reportlab==5.1.0 \
  pillow==13.0.0 pyasn1==0.6.5 xmltodict==1.0.4 fonttools==4.68.0 loguru==0.7.3 charset-normalizer==3.5.3
cp "$WORK/twice.ofd" "$OFD_OUT/sealed-twice.ofd"
"$RENDER_VENV/bin/python" "$REPO/scripts/interop/render_ofd.py" "$WORK/twice.ofd" "$OFD_OUT/sealed-page-1.png" --require-stamp \
  >"$WORK/render.out" 2>"$WORK/render.err" || fail "easyofd: the page sealed by trustd: $(cat "$WORK/render.out" "$WORK/render.err")"
pass "easyofd renders page 1 of the sealed OFD with its stamp: $(cat "$WORK/render.out") (target/interop-ofd/sealed-page-1.png)"

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

# --- A department whose CA was revoked gets a new one (issue 17): with revocation information
# forced, pyHanko trusts a seal made under the new CA and refuses one made under the old; the
# new CA's CRL verifies with openssl under the new CA certificate.
NC_CODE=$("$PY" -c "
cs='0123456789ABCDEFGHJKLMNPQRTUWXY'; b='11110000000000017'
s=sum(cs.index(c)*pow(3,i,31) for i,c in enumerate(b)); print(b+cs[(31-s%31)%31])")
api POST /api/v1/departments "{\"code\":\"$NC_CODE\",\"name\":\"换证测试局\"}" >/dev/null
NC_OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$NC_CODE\"}" | jget token)
nc_stamp() { # nc_stamp OUT: a seal of the department's current CA stamps plain.pdf
  local seal
  seal=$(api POST /api/v1/seals '{"name":"换证测试局公章","kind":"official"}' "$NC_OP" | jget id)
  curl -fsS -o "$1" -H "Authorization: Bearer $NC_OP" -H 'Content-Type: application/pdf' \
    --data-binary @"$WORK/plain.pdf" "$TRUSTD_URL/api/v1/seals/$seal/stamp"
}
nc_stamp "$WORK/nc-old.pdf"
api POST "/api/v1/departments/$NC_CODE/ca/revoke" '{"reason":"keyCompromise"}' >/dev/null
api POST "/api/v1/departments/$NC_CODE/ca" '' >/dev/null
curl -fsS "$TRUSTD_URL/ca/$NC_CODE.pem" >"$WORK/nc-ca.pem"
nc_stamp "$WORK/nc-new.pdf"
cat "$WORK/nc-ca.pem" "$WORK/root.pem" >"$WORK/nc-chain.pem"
curl -fsS "$TRUSTD_URL/crl/$NC_CODE.2.crl" | openssl crl -inform DER -CAfile "$WORK/nc-chain.pem" -noout 2>&1 | grep -q "verify OK" \
  || fail "openssl crl -verify of the new CA's CRL"
new_ca=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/nc-new.pdf" 2>/dev/null || true)
echo "$new_ca" | grep -q ":INTACT:TRUSTED" || fail "pyHanko --force-revinfo on a seal under the new CA: $new_ca"
old_ca=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/nc-old.pdf" 2>/dev/null || true)
echo "$old_ca" | grep -q ":INTACT:TRUSTED" && fail "pyHanko trusted a seal under the revoked CA: $old_ca"
pass "a revoked department CA replaced: pyHanko --force-revinfo TRUSTED under the new CA, not under the old ($(echo "$old_ca" | grep -o ':INTACT:[A-Z_]*' | head -1)); the new CA's CRL verifies"

# --- A department CA renewed while still good (issue 17): the seal gets a certificate under the
# new CA; pyHanko (revocation forced) trusts what was sealed before and after; each CA's CRL
# verifies under that CA with openssl, and openssl ocsp says "good" for the old certificate,
# answered for the old CA.
RN_CODE=$("$PY" -c "
cs='0123456789ABCDEFGHJKLMNPQRTUWXY'; b='11110000000000018'
s=sum(cs.index(c)*pow(3,i,31) for i,c in enumerate(b)); print(b+cs[(31-s%31)%31])")
api POST /api/v1/departments "{\"code\":\"$RN_CODE\",\"name\":\"续期测试局\"}" >/dev/null
RN_OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$RN_CODE\"}" | jget token)
rn_seal=$(api POST /api/v1/seals '{"name":"续期测试局公章","kind":"official"}' "$RN_OP")
rn_id=$(echo "$rn_seal" | jget id)
rn_serial=$(echo "$rn_seal" | jget certificate_serial)
rn_stamp() {
  curl -fsS -o "$1" -H "Authorization: Bearer $RN_OP" -H 'Content-Type: application/pdf' \
    --data-binary @"$WORK/plain.pdf" "$TRUSTD_URL/api/v1/seals/$rn_id/stamp"
}
rn_stamp "$WORK/rn-before.pdf"
curl -fsS "$TRUSTD_URL/ca/$RN_CODE.pem" >"$WORK/rn-old-ca.pem"
api POST "/api/v1/departments/$RN_CODE/ca" '' >/dev/null
curl -fsS "$TRUSTD_URL/ca/$RN_CODE.pem" >"$WORK/rn-new-ca.pem"
cmp -s "$WORK/rn-old-ca.pem" "$WORK/rn-new-ca.pem" && fail "renewal left the department's CA unchanged"
rn_stamp "$WORK/rn-after.pdf"
for f in rn-before rn-after; do
  out=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/$f.pdf" 2>/dev/null || true)
  echo "$out" | grep -q ":INTACT:TRUSTED" || fail "pyHanko --force-revinfo on $f.pdf after a renewal: $out"
done
for ca in "$RN_CODE:rn-old-ca" "$RN_CODE.2:rn-new-ca"; do
  cat "$WORK/${ca#*:}.pem" "$WORK/root.pem" >"$WORK/rn-chain.pem"
  curl -fsS "$TRUSTD_URL/crl/${ca%%:*}.crl" | openssl crl -inform DER -CAfile "$WORK/rn-chain.pem" -noout 2>&1 | grep -q "verify OK" \
    || fail "openssl crl -verify of the CRL of ${ca%%:*}"
done
cat "$WORK/rn-old-ca.pem" "$WORK/root.pem" >"$WORK/rn-chain.pem"
openssl ocsp -issuer "$WORK/rn-old-ca.pem" -serial "0x$rn_serial" -url "$TRUSTD_URL/ocsp" \
  -CAfile "$WORK/rn-chain.pem" 2>&1 | grep -q "0x$rn_serial: good" \
  || fail "openssl ocsp of the seal's old certificate after the renewal"
pass "a department CA renewed: pyHanko --force-revinfo TRUSTED before and after; both CRLs verify with openssl; openssl ocsp: the old certificate good, answered for the old CA"

# --- A new root generation while the service runs (issue 17, `trustd root renew`): a
# department created after it is under root.2; with only the first root trusted, openssl
# verifies its CA through the "new with old" link, and pyHanko (revocation forced) trusts its
# seal (the link travels in the signature); with only root.2 trusted, openssl verifies a CA of
# the first root through the "old with new" link.
TRUSTD_DATA_DIR="$WORK" TRUSTD_PUBLIC_URL="$TRUSTD_URL" "$TRUSTD_BIN" root renew >"$WORK/root-renew.json" \
  || fail "trustd root renew"
grep -q '"root.2"' "$WORK/root-renew.json" || fail "trustd root renew: $(cat "$WORK/root-renew.json")"
curl -fsS "$TRUSTD_URL/ca/root.2.pem" >"$WORK/root2.pem"
curl -fsS "$TRUSTD_URL/ca/links.pem" >"$WORK/links.pem"
[ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/links.pem")" = 2 ] || fail "two link certificates expected"
NR_CODE=$("$PY" -c "
cs='0123456789ABCDEFGHJKLMNPQRTUWXY'; b='11110000000000019'
s=sum(cs.index(c)*pow(3,i,31) for i,c in enumerate(b)); print(b+cs[(31-s%31)%31])")
api POST /api/v1/departments "{\"code\":\"$NR_CODE\",\"name\":\"新根测试局\"}" >/dev/null
NR_OP=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$NR_CODE\"}" | jget token)
nr_id=$(api POST /api/v1/seals '{"name":"新根测试局公章","kind":"official"}' "$NR_OP" | jget id)
curl -fsS -o "$WORK/nr.pdf" -H "Authorization: Bearer $NR_OP" -H 'Content-Type: application/pdf' \
  --data-binary @"$WORK/plain.pdf" "$TRUSTD_URL/api/v1/seals/$nr_id/stamp"
curl -fsS "$TRUSTD_URL/ca/$NR_CODE.pem" >"$WORK/nr-ca.pem"
openssl verify -CAfile "$WORK/root2.pem" "$WORK/nr-ca.pem" >/dev/null || fail "the new department's CA is not under root.2"
if openssl verify -CAfile "$WORK/root.pem" "$WORK/nr-ca.pem" >/dev/null 2>&1; then
  fail "a CA under root.2 verified under the first root without the link"
fi
openssl verify -CAfile "$WORK/root.pem" -untrusted "$WORK/links.pem" "$WORK/nr-ca.pem" >/dev/null \
  || fail "openssl: a CA under root.2 with the first root trusted and the links"
openssl verify -CAfile "$WORK/root2.pem" -untrusted "$WORK/links.pem" "$WORK/rn-old-ca.pem" >/dev/null \
  || fail "openssl: a CA under the first root with root.2 trusted and the links"
out=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/nr.pdf" 2>/dev/null || true)
echo "$out" | grep -q ":INTACT:TRUSTED" || fail "pyHanko --force-revinfo, first root trusted, on a seal under root.2: $out"
out=$("$VENV/bin/pyhanko" sign validate --force-revinfo --trust-replace --trust "$WORK/root.pem" "$WORK/rn-after.pdf" 2>/dev/null || true)
echo "$out" | grep -q ":INTACT:TRUSTED" || fail "pyHanko on a seal of the first root after the root's renewal: $out"
curl -fsS "$TRUSTD_URL/crl/root.2.crl" | openssl crl -inform DER -CAfile "$WORK/root2.pem" -noout 2>&1 | grep -q "verify OK" \
  || fail "openssl crl -verify of root.2's CRL"
pass "a new root generation: openssl verifies across the links both ways (not without them); pyHanko --force-revinfo TRUSTED, first root only, on a seal under root.2 and on one under the first; root.2's CRL verifies"

# Long-term verifiability: with the server gone, pyHanko's AdES validation must find all it
# needs in the B-LT and B-LTA files (DSS); the B-T file, which has no revocation data, must not
# pass that way.
if [ -n "${first:-}" ]; then
  stop_trustd
  for level in B-LT B-LTA; do
    for f in "$first" qpdf-objstm-xrefstream.pdf; do
      out=$("$VENV/bin/pyhanko" sign adesverify --trust-replace --trust "$WORK/root.pem" --executive-summary "$WORK/$level-$f" 2>/dev/null || true)
      echo "$out" | grep -q ":VALID" || fail "pyHanko adesverify offline on $level $f: $out"
    done
  done
  out=$("$VENV/bin/pyhanko" sign adesverify --trust-replace --trust "$WORK/root.pem" --executive-summary "$WORK/B-T-$first" 2>/dev/null || true)
  echo "$out" | grep -q ":VALID" && fail "a B-T seal passed offline AdES validation without revocation data"
  pass "pyHanko adesverify with the server stopped: B-LT and B-LTA seals VALID from their DSS alone (a B-T seal is not)"
fi

# Witnesses, tiles and offline proofs of logging, with aics-tlog and aics-witness and an
# independent witness client (its own servers).
export TRUSTD_BIN
"$REPO/scripts/interop-tlog.sh"

# The citizen page in a real browser (with its own server).
"$REPO/scripts/browser-check.sh"
echo "interop: all checks passed"
