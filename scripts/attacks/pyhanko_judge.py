#!/usr/bin/env python3
"""pyHanko as a second opinion on a PDF signature corpus.

usage: pyhanko_judge.py [--revocation optional|required|manifest] [--compare MANIFEST.tsv]
                        ROOT_PEM FILE...

Prints one line per file: `file<TAB>verdict`, verdict one of TOTAL-PASSED, TOTAL-FAILED,
INDETERMINATE, NO_SIGNATURE_FOUND or ERROR:<msg>. Every signature in the file is validated
(worst wins):
  * intact, valid, trusted, not revoked, time-stamp OK, docmdp_ok  -> TOTAL-PASSED
  * digest/signature broken, revoked, or illegal modifications      -> TOTAL-FAILED
  * anything else (untrusted chain, revocation unknown, bad TSA ...) -> INDETERMINATE
  * no approval/certification signature (only doc time-stamps)     -> NO_SIGNATURE_FOUND
Revocation: `optional` = soft-fail, `required` = pyHanko's 'require' (CRL or OCSP needed) (embedded DSS/CMS revocation data
only: fetching is disabled). `manifest` (default when --compare is given) takes the mode from
the 6th column of the manifest.
With --compare, lists files whose verdict disagrees with the manifest's `expect` column.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from io import BytesIO

RANK = {"TOTAL-PASSED": 0, "NO_SIGNATURE_FOUND": 1, "INDETERMINATE": 2, "TOTAL-FAILED": 3}


class Timeout(Exception):
    pass


def _alarm(*_):
    raise Timeout("timed out")


def load_root(path):
    from asn1crypto import pem, x509
    with open(path, "rb") as f:
        data = f.read()
    if pem.detect(data):
        return [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
    return [x509.Certificate.load(data)]


def make_vc(roots, mode, reader, sig):
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator import ValidationContext
    kw = dict(trust_roots=roots, allow_fetching=False,
              revocation_mode="require" if mode == "required" else "soft-fail")
    crls, ocsps = [], []
    # revocation info archived inside the CMS (adbe-revocationInfoArchival)
    try:
        for a in sig.signer_info["signed_attrs"]:
            if a["type"].native == "adobe_revocation_info_archival":
                v = a["values"][0]
                crls += list(v["crl"] or [])
                ocsps += list(v["ocsp"] or [])
    except Exception:
        pass
    kw["crls"], kw["ocsps"] = crls, ocsps
    from pyhanko.sign.validation.errors import NoDSSFoundError
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return ValidationContext(**kw)
    # anything else (e.g. PdfDecodeLimitError on a DSS bomb) propagates -> ERROR:...
    return dss.as_validation_context(kw)


def judge_sig(reader, sig, roots, mode):
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    if sig.sig_object_type == "/DocTimeStamp":
        st = validate_pdf_timestamp(sig, validation_context=make_vc(roots, mode, reader, sig))
        kind = "ts"
    else:
        vc = make_vc(roots, mode, reader, sig)
        st = validate_pdf_signature(sig, signer_validation_context=vc, ts_validation_context=vc)
        kind = "sig"
    why = []
    if not st.intact:
        why.append("digest mismatch")
    if not st.valid:
        why.append("signature invalid")
    if getattr(st, "revoked", False):
        why.append("revoked")
    mod_ok = True
    if kind == "ts":
        mod_ok = st.docmdp_ok is not False
    else:
        mod_ok = st.docmdp_ok or st.modification_level is None
    if not mod_ok:
        why.append("illegal modifications (%s)" % st.modification_level)
    cov = getattr(st, "coverage", None)
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    if cov is not None and cov < SignatureCoverageLevel.ENTIRE_REVISION:
        why.append("coverage %s" % cov.name)
    if why:
        return kind, "TOTAL-FAILED", "; ".join(why)
    if not st.trusted:
        return kind, "INDETERMINATE", "untrusted: %s" % (st.trust_problem_indic or "?")
    if kind == "sig" and not st.bottom_line:
        ts = st.timestamp_validity
        detail = "bottom line false"
        if ts is not None and not (ts.valid and ts.intact and ts.trusted):
            detail = "signature time-stamp not OK (valid=%s intact=%s trusted=%s)" % (
                ts.valid, ts.intact, ts.trusted)
        elif not st.seed_value_ok:
            detail = "seed value constraints"
        return kind, "INDETERMINATE", detail
    return kind, "TOTAL-PASSED", "%s ok (%s)" % (kind, getattr(st, "modification_level", ""))


def judge_file(path, roots, mode, verbose=False):
    from pyhanko.pdf_utils.reader import PdfFileReader
    with open(path, "rb") as f:
        data = f.read()
    reader = PdfFileReader(BytesIO(data), strict=False)
    sigs = reader.embedded_signatures
    worst, details, any_sig = None, [], False
    for sig in sigs:
        try:
            kind, v, d = judge_sig(reader, sig, roots, mode)
        except Timeout:
            raise
        except Exception as e:  # a signature pyHanko cannot even evaluate
            kind, v, d = "?", "TOTAL-FAILED" if "SignatureValidationError" in type(e).__name__ else "ERROR", \
                "%s: %s" % (type(e).__name__, str(e)[:160])
            if v == "ERROR":
                return "ERROR:" + d.replace("\t", " ").replace("\n", " "), [d]
        any_sig = any_sig or kind != "ts"
        details.append("%s=%s(%s)" % (sig.field_name, v, d))
        if worst is None or RANK[v] > RANK[worst]:
            worst = v
    if not sigs or not any_sig:
        if worst in ("TOTAL-FAILED",):
            return worst, details
        return "NO_SIGNATURE_FOUND", details
    return worst, details


def read_manifest(path):
    rows = {}
    with open(path) as f:
        for ln in f:
            if ln.startswith("#") or ln.startswith("file\t") or not ln.strip():
                continue
            cols = ln.rstrip("\n").split("\t")
            rows[cols[0]] = cols
    return rows


def matches(expect, verdict):
    if expect == "TOTAL-PASSED":
        return verdict == "TOTAL-PASSED"
    if expect == "NOT-PASSED":
        return verdict != "TOTAL-PASSED"
    if expect == "INDETERMINATE":
        return verdict in ("INDETERMINATE", "NO_SIGNATURE_FOUND")
    return verdict == expect


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revocation", choices=["optional", "required", "manifest"], default=None)
    ap.add_argument("--compare", metavar="MANIFEST")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per file")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("root")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    roots = load_root(a.root)
    manifest = read_manifest(a.compare) if a.compare else {}
    mode_default = a.revocation or ("manifest" if manifest else "optional")
    signal.signal(signal.SIGALRM, _alarm)
    disagreements = []
    for p in a.files:
        base = os.path.basename(p)
        mode = mode_default
        if mode == "manifest":
            row = manifest.get(base)
            mode = row[5] if row and len(row) > 5 else "optional"
        signal.alarm(a.timeout)
        try:
            verdict, details = judge_file(p, roots, mode, a.verbose)
        except Timeout:
            verdict, details = "ERROR:timeout after %ds" % a.timeout, []
        except MemoryError:
            verdict, details = "ERROR:MemoryError", []
        except Exception as e:
            msg = ("%s: %s" % (type(e).__name__, e)).replace("\t", " ").replace("\n", " ")[:200]
            verdict, details = "ERROR:" + msg, []
        finally:
            signal.alarm(0)
        print("%s\t%s" % (p, verdict) + (("\t" + " | ".join(details)) if a.verbose else ""),
              flush=True)
        row = manifest.get(base)
        if row and not matches(row[1], verdict):
            disagreements.append((base, row[1], verdict, " | ".join(details)))
    if manifest:
        print("\n# %d disagreement(s) with the manifest" % len(disagreements), file=sys.stderr)
        for base, exp, got, det in disagreements:
            print("#  %s: expected %s, pyHanko says %s  [%s]" % (base, exp, got, det[:300]),
                  file=sys.stderr)


if __name__ == "__main__":
    main()
