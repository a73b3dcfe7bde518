#!/usr/bin/env bash
# TLS to PostgreSQL (issue 17): a PostgreSQL cluster of its own (port 5439) started with ssl=on
# and a server certificate from a CA made here with openssl; trustd connects with
# `sslmode=verify-full&sslrootcert=<that CA>` and `pg_stat_ssl` shows its connections encrypted;
# given another CA, trustd refuses the server and does not start. Then `trustd audit` against
# an https front (openssl s_server is not enough for HTTP: a tiny Python https proxy) with
# `--ca-file`.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
source "$REPO/scripts/lib.sh"
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
ensure_trustd_bin
VERSION=$(ls /etc/postgresql | sort -n | tail -1)
CLUSTER=trustdtls
PORT=5439
WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() {
  stop_trustd
  pg_dropcluster --stop "$VERSION" "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
pg_dropcluster --stop "$VERSION" "$CLUSTER" >/dev/null 2>&1 || true

# A CA, a server certificate for localhost/127.0.0.1 under it, and an unrelated CA.
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=trustd test DB CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=another CA" \
  -keyout other.key -out other.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem 2>/dev/null
chown postgres: server.key server.pem && chmod 600 server.key
cd "$REPO"

pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" >/dev/null -- --auth=trust
cat >>"/etc/postgresql/$VERSION/$CLUSTER/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = '$WORK/server.pem'
ssl_key_file = '$WORK/server.key'
CONF
# Only TLS connections over TCP.
printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n' >"/etc/postgresql/$VERSION/$CLUSTER/pg_hba.conf"
pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" start
for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p "$PORT" -q && break; sleep 0.2; done

export TRUSTD_DATABASE_URL="postgres://postgres@localhost:$PORT/postgres?sslmode=verify-full&sslrootcert=$WORK/ca.pem"
start_trustd "$WORK/data" || fail "trustd did not start over verify-full TLS"
ssl=$(psql -h 127.0.0.1 -p "$PORT" -U postgres -Atc \
  "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'postgres' AND a.application_name <> 'psql'" "sslmode=require")
[ "${ssl%%|*}" -gt 0 ] && [ "${ssl%%|*}" = "${ssl##*|}" ] || fail "pg_stat_ssl: $ssl (encrypted|all)"
pass "trustd on PostgreSQL with sslmode=verify-full: ${ssl%%|*} of its connections encrypted (pg_stat_ssl)"

# trustd audit over https, with the CA given.
AUDITOR=$(api POST /api/v1/api-keys '{"role":"auditor"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
HTTPS_PORT=$(free_port)
python3 - "$HTTPS_PORT" "$TRUSTD_URL" "$WORK/server.pem" "$WORK/server.key" <<'PY' &
import http.server, ssl, sys, urllib.request
port, upstream, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        req = urllib.request.Request(upstream + self.path, headers={k: v for k, v in self.headers.items() if k.lower() == "authorization"})
        try:
            with urllib.request.urlopen(req) as r:
                body, status, ctype = r.read(), r.status, r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            body, status, ctype = e.read(), e.code, e.headers.get("content-type", "")
        self.send_response(status); self.send_header("content-type", ctype); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
PROXY_PID=$!
sleep 1
"$TRUSTD_BIN" audit --url "https://localhost:$HTTPS_PORT" --token "$AUDITOR" --state "$WORK/audit.json" \
  --ca-file "$WORK/ca.pem" || { kill $PROXY_PID; fail "trustd audit over https with --ca-file"; }
if "$TRUSTD_BIN" audit --url "https://localhost:$HTTPS_PORT" --token "$AUDITOR" --state "$WORK/audit2.json" \
  --ca-file "$WORK/other.pem" 2>/dev/null; then kill $PROXY_PID; fail "trustd audit trusted a server of another CA"; fi
kill $PROXY_PID
pass "trustd audit over https: accepted with the server's CA, refused with another"
stop_trustd

# Another CA: the server is not trusted, trustd does not start.
export TRUSTD_DATABASE_URL="postgres://postgres@localhost:$PORT/postgres?sslmode=verify-full&sslrootcert=$WORK/other.pem"
if start_trustd "$WORK/data2" 2>/dev/null; then fail "trustd accepted a PostgreSQL server certificate from another CA"; fi
grep -qi "certificate\|tls\|ssl" "$WORK/data2/server.log" || fail "no TLS reason in: $(cat "$WORK/data2/server.log")"
pass "a PostgreSQL server certificate from another CA refused: $(grep -oi '[^:]*certificate[^\"]*' "$WORK/data2/server.log" | head -1 | cut -c1-120)"
echo "pg-tls-check: all checks passed"
