#!/usr/bin/env python3
"""Reads the outputs of scripts/bench-all.sh (OUT/*.txt, OUT/licences.jsonl), writes
OUT/results.json and replaces the table between the bench-all markers of BENCHMARKS.md.
A figure that is missing from the outputs is reported as not measured, never invented.
usage: summarise.py OUT BENCHMARKS.md"""
import datetime
import json
import pathlib
import re
import statistics
import sys

out, doc = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])


def text(name):
    p = out / name
    return p.read_text() if p.exists() else ""


def find(pattern, name, group=1, cast=float):
    m = re.search(pattern, text(name), re.M)
    return cast(m.group(group)) if m else None


licences = [json.loads(l) for l in text("licences.jsonl").splitlines() if l.strip()]


def lic(db, name, preload=0):
    for r in licences:
        if r["db"] == db and r["name"].startswith(name) and r.get("preload", 0) == preload:
            return r
    return None


machine = find(r"^machine: (.*)$", "licences-sqlite.txt", cast=str) or "unknown"
rows = []


def row(key, measure, value, unit, goal, met, baseline=None):
    rows.append({"key": key, "measure": measure, "value": value, "unit": unit, "goal": goal,
                 "met": met, "baseline": baseline})


def fmt(v, digits=0):
    if v is None:
        return "not measured"
    return f"{v:,.{digits}f}"


# Issuance and the citizen page.
for db, goal in (("sqlite", 5000), ("postgres", 3000)):
    r = lic(db, "POST /api/v1/licences")
    ok = r is not None and r["rps"] >= goal and (db != "sqlite" or r["p99_ms"] <= 50)
    row(f"issuance_{db}", f"durable licence issuance, 64 clients, {db}",
        r and r["rps"], "licences/s", f">= {goal:,}/s" + (", p99 <= 50 ms" if db == "sqlite" else ""), ok,
        r and {"p99_ms": r["p99_ms"]})
health = lic("sqlite", "baseline GET /healthz")
for name, key in (("GET /v/ID", "page"), ("GET /api/v1/public/licences/ID", "public_status")):
    r = lic("sqlite", name)
    ratio = r["rps"] / health["rps"] if r and health else None
    row(f"{key}_vs_healthz", f"{name} against /healthz in the same run", ratio and ratio * 100, "%",
        ">= 50 %", ratio is not None and ratio >= 0.5,
        {"rps": r and r["rps"], "healthz_rps": health and health["rps"]})
pre_issue = [r for r in licences if r.get("preload") and r["name"].startswith("POST")]
pre_page = [r for r in licences if r.get("preload") and r["name"].startswith("GET /v/")]
if pre_issue:
    row("issuance_preloaded", f"issuance with {pre_issue[0]['preload']:,} licences stored first, SQLite",
        pre_issue[0]["rps"], "licences/s", "(cost growth: beside the empty database)", None,
        {"p99_ms": pre_issue[0]["p99_ms"]})
if pre_page:
    row("page_preloaded", f"citizen page with {pre_page[0]['preload']:,} licences stored, p99",
        pre_page[0]["p99_ms"], "ms", "(cost growth)", None, {"rps": pre_page[0]["rps"]})

# Stamping.
reals = [(m.group(1), float(m.group(3)), float(m.group(4)), float(m.group(5)))
         for m in re.finditer(r"^real file (\S+) \((\d+) B\): trustd B-B over HTTP ([\d.]+) /s; "
                              r"pyHanko in-process ([\d.]+) /s; ratio ([\d.]+)x", text("seals.txt"), re.M)]
worst = min((r[3] for r in reals), default=None)
row("stamp_real_vs_pyhanko", "stamping real files over HTTP against pyHanko in-process (worst file)",
    worst, "x", ">= 50x", worst is not None and worst >= 50,
    {"files": [{"file": f, "trustd_per_s": t, "pyhanko_per_s": p} for f, t, p, _ in reals]})
big = re.search(r"^50 MB: HTTP (\d+); (?:sha256sum|openssl dgst) (\d+) ms; stamp over HTTP (\d+) ms = ([\d.]+)x",
                text("seals.txt"), re.M)
row("stamp_50mb_vs_digest", "stamping a 50 MB PDF, wall time against a SHA-256 of the file",
    big and float(big.group(4)), "x", "<= 5x", big is not None and float(big.group(4)) <= 5,
    big and {"stamp_ms": int(big.group(3)), "digest_ms": int(big.group(2))})
rss = find(r"^server RSS: idle \d+ MiB, peak \d+ MiB: (\d+) MiB above idle", "seals.txt")
row("stamp_50mb_rss", "server peak RSS stamping a 50 MB PDF, above idle", rss, "MiB", "<= 64 MiB",
    rss is not None and rss <= 64)
burst = re.search(r"^16 concurrent 50 MB stampings: (\d+) stamped, (\d+) refused .*peak RSS (\d+) MiB", text("seals.txt"), re.M)
row("stamp_16x50mb_rss", "16 concurrent 50 MB stampings, server peak RSS", burst and float(burst.group(3)), "MiB",
    "<= 1 GiB (beyond the cap: 503 with Retry-After)", burst is not None and int(burst.group(3)) <= 1024,
    burst and {"stamped": int(burst.group(1)), "refused_503": int(burst.group(2))})

# Verification and OCSP.
kept = find(r"^POST /api/v1/verify/pdf \(wrk.*median ([\d.]+) ms", "verify.txt")
curl = find(r"^POST /api/v1/verify/pdf \(curl.*median ([\d.]+) ms", "verify.txt")
pdfsig = find(r"^pdfsig -nssdir: median ([\d.]+) ms", "verify.txt")
row("verify_5sig_http", "verifying a five-signature PDF over HTTP, median (kept-alive connection)",
    kept, "ms", "<= 15 ms and <= half of pdfsig",
    kept is not None and pdfsig is not None and kept <= 15 and kept <= pdfsig / 2,
    {"curl_per_run_ms": curl, "pdfsig_ms": pdfsig})
nonce = find(r"^OCSP POST /ocsp \(nonce request\): ([\d.]+) responses/s", "verify.txt")
row("ocsp_nonce", "OCSP with a nonce", nonce, "responses/s", ">= 20,000/s", nonce is not None and nonce >= 20000)

# The log.
appends = find(r"^append/sqlite/writers=64: (\d+) durable", "log.txt")
row("log_appends_sqlite", "durable log appends, 64 writers, SQLite", appends, "appends/s", ">= 8,000/s",
    appends is not None and appends >= 8000,
    {"postgres": find(r"^append/postgres/writers=64: (\d+) durable", "log.txt")})
proof = re.search(r"^proof/sqlite/size=(\d+): inclusion median ([\d.]+) ms", text("log.txt"), re.M)
size = proof and int(proof.group(1))
row("inclusion_proof", f"inclusion proof at {size:,} entries, median" if size else "inclusion proof, median",
    proof and float(proof.group(2)), "ms", "<= 0.5 ms at 10,000,000 entries",
    proof is not None and size >= 10_000_000 and float(proof.group(2)) <= 0.5)

results = {"machine": machine, "date": datetime.date.today().isoformat(), "rows": rows, "licences": licences}
(out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))

lines = [f"Machine: {machine}. Run: {results['date']}, `scripts/bench-all.sh` "
         f"(machine-readable: `target/bench/results.json`).", "",
         "| measure | result | goal | met |", "|---|---|---|---|"]
for r in rows:
    digits = 1 if r["unit"] in ("ms", "x", "%") else 0
    value = fmt(r["value"], digits)
    if r["value"] is not None:
        value += f" {r['unit']}"
    extra = ""
    items = [f"{k.replace('_', ' ')} {v:,.1f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
             for k, v in (r["baseline"] or {}).items() if v is not None and not isinstance(v, list)]
    if items:
        extra = " (" + ", ".join(items) + ")"
    met = {True: "yes", False: "**no**", None: ""}[r["met"]]
    lines.append(f"| {r['measure']} | {value}{extra} | {r['goal']} | {met} |")
table = "\n".join(lines)
begin, end = "<!-- bench-all:begin -->", "<!-- bench-all:end -->"
body = doc.read_text()
if begin in body and end in body:
    body = body[:body.index(begin) + len(begin)] + "\n" + table + "\n" + body[body.index(end):]
else:
    body = body.rstrip() + f"\n\n## Summary (`scripts/bench-all.sh`)\n\n{begin}\n{table}\n{end}\n"
doc.write_text(body)
print(table)
