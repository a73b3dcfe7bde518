#!/usr/bin/env python3
"""Fixed-rate mixed workload for scripts/soak.sh (standard library only).

usage: load.py BASE_URL ADMIN_TOKEN SECONDS RATE OUT.json
Sends RATE requests per second in all (open loop: requests are scheduled on a clock, not
after the previous answer), spread over issuing licences, reading their public status,
stamping and verifying PDFs, OCSP, and the log's checkpoint. Records each request's endpoint,
status and latency."""
import base64
import json
import subprocess
import sys
import threading
import time
import os

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from tiny_pdf import tiny_pdf  # noqa: E402
import http_call  # noqa: E402
from concurrent.futures import ThreadPoolExecutor

BASE, ADMIN, SECONDS, RATE, OUT = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
results, lock = [], threading.Lock()


def call(method, path, token=None, body=None, ctype="application/json"):
    status, _, answer = http_call.call(BASE, method, path, token, body, ctype)
    return status, answer


def pdf():
    return tiny_pdf()


code = "91350100M000100Y43"
assert call("POST", "/api/v1/departments", ADMIN, {"code": code, "name": "福州市人民政府"})[0] == 201
op = json.loads(call("POST", "/api/v1/api-keys", ADMIN, {"role": "operator", "department_code": code})[1])["token"]
type_code = json.loads(call("POST", "/api/v1/licence-types", op, {"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]})[1])["type_code"]
seal = json.loads(call("POST", "/api/v1/seals", op, {"name": "公章", "kind": "official"})[1])
seal_id = seal["id"]
open("/tmp/soak-seal.pem", "w").write(seal["certificate_pem"])
open("/tmp/soak-dept.pem", "w").write(call("GET", f"/ca/{code}.pem")[1].decode())
subprocess.run(["openssl", "ocsp", "-issuer", "/tmp/soak-dept.pem", "-cert", "/tmp/soak-seal.pem", "-reqout", "/tmp/soak-ocsp.der"],
               capture_output=True)
ocsp_req = open("/tmp/soak-ocsp.der", "rb").read()
doc = pdf()
sealed = call("POST", f"/api/v1/seals/{seal_id}/stamp", op, doc, "application/pdf")[1]
licences = []

MIX = [("licence.issue", 3), ("public.status", 4), ("seal.stamp", 2), ("verify.pdf", 2), ("ocsp", 4), ("log.checkpoint", 2), ("citizen.page", 3)]
SCHEDULE = [name for name, weight in MIX for _ in range(weight)]


def one(i):
    name = SCHEDULE[i % len(SCHEDULE)]
    t = time.time()
    if name == "licence.issue":
        s, b = call("POST", "/api/v1/licences", op, {"type_code": type_code, "holder": {"name": "张三", "code_type": "111", "code": "11010519491231002X"}})
        if s == 201:
            with lock:
                licences.append(json.loads(b)["identifier"])
    elif name in ("public.status", "citizen.page"):
        with lock:
            ident = licences[i % len(licences)] if licences else "unknown"
        path = f"/api/v1/public/licences/{ident}" if name == "public.status" else f"/v/{ident}"
        s, _ = call("GET", path)
        if s == 404 and ident == "unknown":
            s = 200
    elif name == "seal.stamp":
        s, _ = call("POST", f"/api/v1/seals/{seal_id}/stamp", op, doc, "application/pdf")
    elif name == "verify.pdf":
        s, _ = call("POST", "/api/v1/verify/pdf", None, sealed, "application/pdf")
    elif name == "ocsp":
        s, _ = call("POST", "/ocsp", None, ocsp_req, "application/ocsp-request")
    else:
        s, _ = call("GET", "/api/v1/log/checkpoint")
    with lock:
        results.append((name, s, time.time() - t, t))


start = time.time()
with ThreadPoolExecutor(max_workers=64) as pool:
    i = 0
    while True:
        due = start + i / RATE
        now = time.time()
        if due - start >= SECONDS:
            break
        if due > now:
            time.sleep(due - now)
        pool.submit(one, i)
        i += 1
by = {}
for name, s, lat, t in results:
    by.setdefault(name, []).append((s, lat))
summary = {}
for name, rows in sorted(by.items()):
    lats = sorted(l for _, l in rows)
    summary[name] = {
        "requests": len(rows),
        "5xx": sum(1 for s, _ in rows if s >= 500 or s == 0),
        "other_errors": sum(1 for s, _ in rows if 400 <= s < 500),
        "p50_ms": round(lats[len(lats) // 2] * 1000, 1),
        "p99_ms": round(lats[min(len(lats) - 1, int(len(lats) * 0.99))] * 1000, 1),
    }
json.dump({"sent": i, "seconds": SECONDS, "rate": RATE, "endpoints": summary}, open(OUT, "w"), indent=1)
