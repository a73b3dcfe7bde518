#!/usr/bin/env bash
# Several instances behind a load balancer (ARCHITECTURE.md §1): three `trustd serve`
# processes on one PostgreSQL database and one master key, nginx in front. A mixed workload
# (scripts/cluster/load.py) runs through nginx; one instance is killed with SIGKILL half-way.
# Afterwards: every acknowledged object and log entry is in the database exactly once, log
# indices are dense, every checkpoint seen during the run is consistent with the final one
# (scripts/interop/verify_log.py) and `trustd audit` passes, and the surviving instances kept
# serving (failures only around the kill).
#   usage: scripts/cluster.sh [SECONDS=20]
# Needs PostgreSQL (TRUSTD_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres);
# installs nginx (Debian) and the Python venv itself.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_RUN="${1:-20}"
PG="${TRUSTD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
command -v nginx >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
command -v psql >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; }
VENV="$REPO/target/interop-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check cryptography
[ -n "${TRUSTD_BIN:-}" ] || { (cd "$REPO" && cargo build --release --quiet --bin trustd); TRUSTD_BIN="$REPO/target/release/trustd"; }

WORK=$(mktemp -d)
DB="trustd_cluster_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$PG" -c "CREATE DATABASE $DB" >/dev/null
DB_URL="${PG%/*}/$DB"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
LB_PORT=$(free_port)
LB="http://127.0.0.1:$LB_PORT"
MASTER=$(head -c 32 /dev/urandom | base64)
ADMIN="cluster-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PORTS=()
start_instance() { # start_instance N PORT
  mkdir -p "$WORK/i$1"
  # Clients reach an instance through nginx, a trusted proxy whose X-Forwarded-For names them.
  # The load here comes from one client, so the per-client limit on public endpoints is off.
  TRUSTD_LISTEN="127.0.0.1:$2" TRUSTD_DATA_DIR="$WORK/i$1" TRUSTD_DATABASE_URL="$DB_URL" \
    TRUSTD_MASTER_KEY="$MASTER" TRUSTD_ADMIN_TOKEN="$ADMIN" TRUSTD_PUBLIC_URL="$LB" TRUSTD_PUBLIC_RATE=0 \
    TRUSTD_TRUSTED_PROXIES=127.0.0.1/32 \
    RUST_LOG=warn "$TRUSTD_BIN" serve >"$WORK/i$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "instance $1 did not start"; cat "$WORK/i$1.log"; exit 1
}
for n in 1 2 3; do
  PORTS+=("$(free_port)")
  start_instance "$n" "${PORTS[$((n - 1))]}"   # the first one bootstraps the installation
done
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_max_body_size 100m;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  upstream trustd {
    server 127.0.0.1:${PORTS[0]} max_fails=1 fail_timeout=30s;
    server 127.0.0.1:${PORTS[1]} max_fails=1 fail_timeout=30s;
    server 127.0.0.1:${PORTS[2]} max_fails=1 fail_timeout=30s;
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / {
      proxy_pass http://trustd;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      # Only requests that never reached an instance are tried on another: a POST that may
      # have been processed is not repeated.
      proxy_next_upstream error timeout;
    }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK"
for _ in $(seq 50); do curl -fsS "$LB/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

KILL_AT=$(python3 -c "print($SECONDS_RUN / 2)")
"$VENV/bin/python" "$REPO/scripts/cluster/load.py" "$LB" "$ADMIN" "$SECONDS_RUN" "$KILL_AT" "$WORK/load.json" &
LOAD=$!
sleep "$KILL_AT"
kill -KILL "${PIDS[1]}"
echo "killed instance 2 (port ${PORTS[1]}) with SIGKILL at ${KILL_AT}s"
wait "$LOAD"
sleep 0.5   # let the integrator sign the last checkpoint

AUDITOR=$(curl -fsS -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"role":"auditor"}' "$LB/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$VENV/bin/python" - "$WORK/load.json" "$DB_URL" "$KILL_AT" <<'PY'
import json, subprocess, sys
run = json.load(open(sys.argv[1])); db = sys.argv[2]; kill_at = float(sys.argv[3])
def sql(q):
    return subprocess.run(["psql", "-qAt", db, "-c", q], check=True, capture_output=True, text=True).stdout.split()
acked = run["acked"]
indices = [a["index"] for a in acked if a["index"] is not None]
assert len(indices) == len(set(indices)), "two acknowledged writes share a log index"
count, top, size = int(sql("SELECT COUNT(*) FROM events")[0]), int(sql("SELECT MAX(idx) FROM events")[0]), int(sql("SELECT size FROM log_state")[0])
assert count == top + 1 == size, f"log indices are not dense: {count} entries, max {top}, size {size}"
stored = set(int(i) for i in sql("SELECT idx FROM events"))
missing = [i for i in indices if i not in stored]
assert not missing, f"acknowledged log entries missing: {missing[:10]}"
def once(table, column, values, what):
    for v in values:
        n = int(sql(f"SELECT COUNT(*) FROM {table} WHERE {column} = '{v}'")[0])
        assert n == 1, f"{what} {v}: {n} rows"
once("departments", "code", [a["subject"] for a in acked if a["kind"] == "department"], "department")
once("licences", "identifier", [a["subject"] for a in acked if a["kind"] == "licence"], "licence")
once("seals", "id", [a["subject"] for a in acked if a["kind"] == "seal"], "seal")
for a in acked:
    if a["kind"] in ("department", "licence", "seal", "stamp", "seal-revoke", "licence-revoke"):
        assert a["index"] is not None, f"{a['kind']} acknowledged without a log index"
near = [f for f in run["failures"] if abs(f["t"] - kill_at) <= 2.0]
far = [f for f in run["failures"] if abs(f["t"] - kill_at) > 2.0]
assert not far, f"failures away from the kill: {far[:5]}"
after = [a for a in acked if a["t"] > kill_at + 2.0]
assert after, "nothing was acknowledged after the kill: the survivors did not keep serving"
kinds = {}
for a in acked:
    kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
print(f"cluster: {len(acked)} acknowledged ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
      f"{len(near)} failed within 2 s of the kill, 0 elsewhere; {len(after)} acknowledged after it; "
      f"log dense with {count} entries; every acknowledged object and entry stored exactly once")
PY
# Every checkpoint seen during the run is consistent with the final one.
n=0
"$VENV/bin/python" -c 'import json,sys; [open(f"{sys.argv[2]}/cp{i}", "w").write(c) for i, c in enumerate(json.load(open(sys.argv[1]))["checkpoints"])]' "$WORK/load.json" "$WORK"
for cp in "$WORK"/cp*; do
  [ -e "$cp" ] || continue
  "$VENV/bin/python" "$REPO/scripts/interop/verify_log.py" "$LB" "$AUDITOR" "$cp" >/dev/null 2>"$WORK/verify.err" || { cat "$WORK/verify.err"; exit 1; }
  n=$((n + 1))
done
echo "cluster: $n checkpoints seen during the run are consistent with the final one (python cryptography)"
"$TRUSTD_BIN" audit --url "$LB" --token "$AUDITOR" --state "$WORK/audit.json"
echo "cluster: all checks passed"
