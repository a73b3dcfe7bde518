#!/usr/bin/env python3
"""Mixed workload through the load balancer for scripts/cluster.sh (standard library only).

usage: load.py BASE_URL ADMIN_TOKEN SECONDS KILL_AT OUT.json
Workers create departments, issue and revoke licences, create seals, stamp and verify PDFs,
revoke seals, and read the log's checkpoint. Every 2xx answer is recorded with what it
created and the log index it names; every failure with its time; every checkpoint seen is
kept. KILL_AT (seconds from the start) is only recorded, to tell failures near the kill from
others."""
import json
import random
import sys
import threading
import time
import os

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from tiny_pdf import tiny_pdf  # noqa: E402
import http_call  # noqa: E402

BASE, ADMIN, SECONDS, KILL_AT, OUT = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
T0 = time.time()
lock = threading.Lock()
acked, failures, checkpoints = [], [], []


def call(method, path, token=None, body=None, ctype="application/json"):
    return http_call.call(BASE, method, path, token, body, ctype)


def record(kind, status, headers, body, subject=None):
    now = time.time() - T0
    if 200 <= status < 300:
        index = headers.get("Trustd-Log-Index") or headers.get("trustd-log-index")
        if index is None and body[:1] == b"{":
            index = json.loads(body).get("log_index")
        with lock:
            acked.append({"kind": kind, "subject": subject, "index": None if index is None else int(index), "t": now})
        return True
    with lock:
        failures.append({"kind": kind, "status": status, "t": now, "detail": body[:200].decode("utf-8", "replace")})
    return False


def credit_code(n):
    cs = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    b = ("9135" + f"{n:013d}")[:17]
    s = sum(cs.index(c) * pow(3, i, 31) for i, c in enumerate(b))
    return b + cs[(31 - s % 31) % 31]


def pdf():
    return tiny_pdf()


def setup():
    code = credit_code(1)
    s, h, b = call("POST", "/api/v1/departments", ADMIN, {"code": code, "name": "福州市人民政府"})
    assert s == 201, b
    record("department", s, h, b, code)
    s, h, b = call("POST", "/api/v1/api-keys", ADMIN, {"role": "operator", "department_code": code})
    op = json.loads(b)["token"]
    s, h, b = call("POST", "/api/v1/licence-types", op, {"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]})
    type_code = json.loads(b)["type_code"]
    return op, type_code


def worker(n, op, type_code):
    rnd = random.Random(n)
    seal, licences, doc = None, [], pdf()
    i = 0
    while time.time() - T0 < SECONDS:
        i += 1
        choice = rnd.random()
        if choice < 0.2:
            # Disjoint per worker however many requests a worker makes.
            code = credit_code(10**9 * (n + 2) + i)
            s, h, b = call("POST", "/api/v1/departments", ADMIN, {"code": code, "name": f"部门{n}-{i}"})
            record("department", s, h, b, code)
        elif choice < 0.45:
            s, h, b = call("POST", "/api/v1/licences", op, {"type_code": type_code, "holder": {"name": "张三", "code_type": "111", "code": "11010519491231002X"}})
            if record("licence", s, h, b, json.loads(b).get("identifier") if s == 201 else None):
                licences.append(json.loads(b)["identifier"])
        elif choice < 0.5 and licences:
            ident = licences.pop()
            s, h, b = call("POST", f"/api/v1/licences/{ident}/revoke", op, {"reason": "load test"})
            record("licence-revoke", s, h, b, ident)
        elif choice < 0.6 or seal is None:
            s, h, b = call("POST", "/api/v1/seals", op, {"name": f"印章{n}-{i}", "kind": "other"})
            if record("seal", s, h, b, json.loads(b).get("id") if s == 201 else None):
                seal = json.loads(b)["id"]
        elif choice < 0.8:
            s, h, b = call("POST", f"/api/v1/seals/{seal}/stamp?level=B-B", op, doc, "application/pdf")
            if record("stamp", s, h, b, seal):
                s2, h2, b2 = call("POST", "/api/v1/verify/pdf", None, b, "application/pdf")
                ok = s2 == 200 and json.loads(b2)["indication"] == "TOTAL-PASSED"
                record("verify", s2 if ok else (s2 or 0) + 1000, h2, b2)
        elif choice < 0.83:
            s, h, b = call("POST", f"/api/v1/seals/{seal}/revoke", op, {"reason": "superseded"})
            record("seal-revoke", s, h, b, seal)
            seal = None
        else:
            s, h, b = call("GET", "/api/v1/log/checkpoint")
            if s == 200:
                with lock:
                    checkpoints.append(b.decode())
            record("checkpoint", s, h, b)


op, type_code = setup()
threads = [threading.Thread(target=worker, args=(n, op, type_code)) for n in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
json.dump({"operator": op, "acked": acked, "failures": failures, "checkpoints": sorted(set(checkpoints)),
           "kill_at": KILL_AT}, open(OUT, "w"))
print(f"load: {len(acked)} acknowledged, {len(failures)} failed, {len(set(checkpoints))} distinct checkpoints", file=sys.stderr)
