#!/usr/bin/env bash
# Renders the citizen verification page (/v/{identifier}) in a real browser: headless Chromium
# at a phone's size (390x844), for a valid licence, a revoked one and an identifier that is
# well-formed but was never issued. Checks the verdict in the rendered DOM (有效 / 已撤销 /
# 未找到 in the element with id="verdict"), that the page breaks no Content Security Policy
# rule and shows no personal data (full name, citizen ID, face fields), and saves a screenshot of each to target/browser-check/<name>.png.
# Installs what it needs (Debian chromium and a CJK font; python-stdnum in the venv under target/), starts a server on a
# free port with a temporary data dir, and stops it. Exits non-zero on any failure.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v curl >/dev/null || need_apt+=(curl)
command -v fc-list >/dev/null || need_apt+=(fontconfig)
# Without a CJK font the Chinese text renders as boxes; Chromium does not depend on one.
dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || need_apt+=(fonts-wqy-zenhei)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need_apt[@]}"
fi
# The same venv as scripts/interop.sh.
VENV="$REPO/target/interop-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check python-stdnum
PY="$VENV/bin/python"

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
jget() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

[ -n "$(fc-list :lang=zh family)" ] || fail "no font with Chinese glyphs is installed"

WORK=$(mktemp -d)
trap 'stop_trustd; rm -rf "$WORK"' EXIT
start_trustd "$WORK"
OUT="$REPO/target/browser-check"
mkdir -p "$OUT"
rm -f "$OUT"/*.png

# --- A department, an operator, a type, two licences; revoke the second.
CODE=91350100M000100Y43
api POST /api/v1/departments "{\"code\":\"$CODE\",\"name\":\"福州市市场监督管理局\"}" >/dev/null
OPERATOR=$(api POST /api/v1/api-keys "{\"role\":\"operator\",\"department_code\":\"$CODE\",\"label\":\"browser-check\"}" | jget token)
TYPE=$(api POST /api/v1/licence-types '{"name":"居住证","holder_kind":"person","fields":[{"key":"address","label":"居住地址","required":true}],"validity_days":365}' "$OPERATOR" | jget type_code)
issue() {
  api POST /api/v1/licences "{\"type_code\":\"$TYPE\",\"holder\":{\"name\":\"张三丰\",\"code_type\":\"111\",\"code\":\"11010519491231002X\"},\"face\":{\"address\":\"福州市鼓楼区\"}}" "$OPERATOR"
}
VALID_URL=$(issue | jget verify_url)
REVOKED_ID=$(issue | jget identifier)
api POST "/api/v1/licences/$REVOKED_ID/revoke" '{"reason":"证照信息有误，已重新签发"}' "$OPERATOR" >/dev/null
REVOKED_URL="$TRUSTD_URL/v/$REVOKED_ID"
# Well-formed (right parts, right check character, computed with python-stdnum) but not issued.
UNKNOWN_ID=$("$PY" - "$TYPE" "$CODE" <<'EOF'
import sys
from stdnum.iso7064 import mod_37_36
type_code, issuer = sys.argv[1:]
serial, version = "ZZZZ0000ZZZZ0000ZZZZ", "001"
print("1.2.156.3005.2.%s.%s.%s.%s.%s" % (type_code, issuer, serial, version,
      mod_37_36.calc_check_digit(type_code + issuer + serial + version)))
EOF
)
UNKNOWN_URL="$TRUSTD_URL/v/$UNKNOWN_ID"

# The HTTP status, as the API contract says: 200 for a known licence, 404 for an unknown one.
for want in "200 $VALID_URL" "200 $REVOKED_URL" "404 $UNKNOWN_URL"; do
  got=$(curl -sS -o /dev/null -w '%{http_code}' "${want#* }")
  [ "$got" = "${want%% *}" ] || fail "GET ${want#* } gave HTTP $got, not ${want%% *}"
done
pass "curl: HTTP 200 for the valid and revoked pages, 404 for the unknown identifier"

# chromium [FLAG...] URL: the flags from ../shared/VERIFIERS.md, a fresh profile each run.
chromium_run() {
  timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d -p "$WORK")" --window-size=390,844 "$@"
}

# check NAME URL VERDICT
check() {
  local name="$1" url="$2" verdict="$3"
  # --enable-logging=stderr prints the page's console messages (CSP violations among them).
  chromium_run --enable-logging=stderr --v=0 --dump-dom "$url" >"$WORK/$name.html" 2>"$WORK/$name.err" \
    || { cat "$WORK/$name.err"; fail "$name: chromium --dump-dom failed"; }
  local text
  text=$("$PY" - "$WORK/$name.html" <<'EOF'
import sys
from html.parser import HTMLParser

class Verdict(HTMLParser):
    def __init__(self):
        super().__init__()
        self.depth = 0
        self.text = []
        self.found = 0
    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == "verdict":
            self.depth = 1
            self.found += 1
    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1
    def handle_data(self, data):
        if self.depth:
            self.text.append(data)

p = Verdict()
p.feed(open(sys.argv[1], encoding="utf-8").read())
if p.found != 1:
    sys.exit("%d elements with id=verdict" % p.found)
print(" ".join("".join(p.text).split()))
EOF
  ) || { head -c 2000 "$WORK/$name.html"; fail "$name: no single element with id=verdict in the DOM"; }
  case "$text" in
    *"$verdict"*) ;;
    *) fail "$name: verdict is '$text', expected '$verdict'" ;;
  esac
  for other in 有效 已撤销 未找到; do
    if [ "$other" != "$verdict" ] && [[ "$text" == *"$other"* ]]; then
      fail "$name: verdict '$text' also says '$other'"
    fi
  done
  if grep -E 'CONSOLE' "$WORK/$name.err" | grep -qiE 'Content Security Policy|Refused'; then
    grep -E 'CONSOLE' "$WORK/$name.err"
    fail "$name: the page breaks its Content Security Policy"
  fi
  # The rendered page shows no personal data: the holder's name masked, the code cut, no face field.
  for secret in 11010519491231002X 张三丰 福州市鼓楼区; do
    if grep -qF "$secret" "$WORK/$name.html"; then fail "$name: the rendered page shows personal data ($secret)"; fi
  done
  chromium_run --screenshot="$OUT/$name.png" "$url" >"$WORK/$name.shot.log" 2>&1 \
    || { cat "$WORK/$name.shot.log"; fail "$name: chromium --screenshot failed"; }
  [ -s "$OUT/$name.png" ] || { cat "$WORK/$name.shot.log"; fail "$name: no screenshot at $OUT/$name.png"; }
  pass "chromium 390x844: $name page says '$text'; screenshot target/browser-check/$name.png ($(stat -c %s "$OUT/$name.png") bytes)"
}

check valid "$VALID_URL" 有效
check revoked "$REVOKED_URL" 已撤销
check unknown "$UNKNOWN_URL" 未找到
echo "browser-check: all checks passed"
