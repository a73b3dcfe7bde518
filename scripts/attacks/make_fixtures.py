#!/usr/bin/env python3
"""Small pyHanko-signed fixtures for `cargo test` (committed under tests/fixtures/pyhanko/).

usage: target/interop-venv/bin/python scripts/attacks/make_fixtures.py tests/fixtures/pyhanko

Makes a fresh throwaway root (root.pem, committed next to the PDFs; its key is discarded), an
ECDSA P-256 signer and an RSA-2048 signer (valid 2026-01-01 .. 2040-01-01), and:
  docmdp-p1.pdf                 certified, DocMDP P=1                          -> TOTAL-PASSED
  docmdp-p2.pdf                 certified, DocMDP P=2, one empty text field   -> TOTAL-PASSED
  docmdp-p2-filled-signed.pdf   docmdp-p2 + field filled + approval signature -> TOTAL-PASSED
  docmdp-p1-changed.pdf         docmdp-p1 + field filled afterwards           -> NOT PASSED (docmdp)
  rsa-pkcs7-detached.pdf        RSA-2048 signer, /SubFilter /adbe.pkcs7.detached -> TOTAL-PASSED
  two-signatures.pdf            two sequential approval signatures (/Info touched) -> TOTAL-PASSED
No time-stamps and no revocation data: verify with `--revocation-optional`.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from make_corpus import fill_field  # noqa: E402

TIGHT = {}  # tight_size_estimates breaks on ECDSA (variable-length signature)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    pki = C.Pki(full=False)
    files = {}
    base = C.base_pdf()
    p1 = C.pyh_sign(base, pki.signer, certify=True, p=1, field="Author", meta_extra=TIGHT)
    p2 = C.pyh_sign(base, pki.signer, certify=True, p=2, field="Author", meta_extra=TIGHT)
    files["docmdp-p1.pdf"] = p1
    files["docmdp-p2.pdf"] = p2
    files["docmdp-p2-filled-signed.pdf"] = C.pyh_sign(
        fill_field(p2, "Alice Example"), pki.rsa_signer, field="Approval", meta_extra=TIGHT)
    files["docmdp-p1-changed.pdf"] = fill_field(p1, "Mallory")
    files["rsa-pkcs7-detached.pdf"] = C.pyh_sign(base, pki.rsa_signer, subfilter="pkcs7",
                                                 meta_extra=TIGHT)
    one = C.pyh_sign(base, pki.signer, field="Signature1", meta_extra=TIGHT)
    two = C.pyh_sign(one, pki.rsa_signer, field="Signature2", meta_extra=TIGHT)
    assert b"/ModDate" in two[len(one):], "second update should touch /Info"
    files["two-signatures.pdf"] = two
    with open(os.path.join(out, "root.pem"), "wb") as f:
        f.write(pki.root.pem())
    total = 0
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        total += len(data)
        print("%-30s %6d B" % (name, len(data)))
    print("total %d B" % total)


if __name__ == "__main__":
    main()
