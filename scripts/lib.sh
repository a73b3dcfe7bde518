# Shared helpers for the scripts: start a trustd on a free port with a temporary data dir.
# Source it; it defines start_trustd, stop_trustd, api.

TRUSTD_BIN="${TRUSTD_BIN:-}"

ensure_trustd_bin() {
  if [ -z "$TRUSTD_BIN" ]; then
    (cd "$REPO" && cargo build --quiet --bin trustd)
    TRUSTD_BIN="$REPO/target/debug/trustd"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_trustd DATA_DIR: exports TRUSTD_URL, ADMIN and TRUSTD_PID.
start_trustd() {
  local dir="$1"
  mkdir -p "$dir"
  ensure_trustd_bin
  local port
  port=$(free_port)
  export TRUSTD_URL="http://127.0.0.1:$port"
  export ADMIN="interop-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  TRUSTD_LISTEN="127.0.0.1:$port" TRUSTD_PUBLIC_URL="$TRUSTD_URL" TRUSTD_DATA_DIR="$dir" TRUSTD_ADMIN_TOKEN="$ADMIN" \
    RUST_LOG="${RUST_LOG:-warn}" "$TRUSTD_BIN" serve >"$dir/server.log" 2>&1 &
  TRUSTD_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$TRUSTD_URL/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "trustd did not start; log:" >&2
  cat "$dir/server.log" >&2
  return 1
}

stop_trustd() {
  if [ -n "${TRUSTD_PID:-}" ]; then
    kill "$TRUSTD_PID" 2>/dev/null || true
    wait "$TRUSTD_PID" 2>/dev/null || true
    TRUSTD_PID=
  fi
}

# api METHOD PATH [JSON] [TOKEN]: prints the body, fails on a non-2xx status.
api() {
  local method="$1" path="$2" body="${3:-}" token="${4:-$ADMIN}"
  if [ -n "$body" ]; then
    curl -fsS -X "$method" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "$body" "$TRUSTD_URL$path"
  else
    curl -fsS -X "$method" -H "Authorization: Bearer $token" "$TRUSTD_URL$path"
  fi
}
