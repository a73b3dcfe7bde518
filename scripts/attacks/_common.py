"""Shared helpers for the attack corpus and the pyHanko fixtures.

Everything here is offline: a throwaway PKI made with `cryptography`, hand-written
base PDFs, raw incremental updates, and thin wrappers around pyHanko's signing API.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import re
import zlib
from io import BytesIO

from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = _dt.timezone.utc


def utc(y, m=1, d=1, hh=0, mm=0, ss=0):
    return _dt.datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


# --------------------------------------------------------------------------- PKI

class Party:
    """A certificate with its private key (cryptography objects + asn1crypto views)."""

    def __init__(self, cert: x509.Certificate, key):
        self.cert = cert
        self.key = key

    @property
    def a_cert(self) -> a_x509.Certificate:
        return a_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def a_key(self) -> a_keys.PrivateKeyInfo:
        return a_keys.PrivateKeyInfo.load(self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def new_key(kind="ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def name(cn, o="Example Corpus PKI (throwaway)"):
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


KU_SIGN = dict(digital_signature=True, content_commitment=True)
KU_CA = dict(key_cert_sign=True, crl_sign=True)
_KU_ALL = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
           "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def make_cert(cn, *, issuer: Party | None = None, key=None, key_kind="ec", ca=None, pathlen=None,
              ku=None, eku=None, eku_critical=False, nb=None, na=None, extra=(),
              issuer_name=None, serial=None, o=None, revinfo_urls=None) -> Party:
    """Make a certificate. issuer=None: self-signed. ca=None: no basicConstraints.
    Non-CA certs under an issuer declare a CRL distribution point and an OCSP URL on the
    reserved .invalid TLD (never fetched; they make revocation checking 'declared')."""
    key = key or new_key(key_kind)
    subj = name(cn, o) if o else name(cn)
    iss_name = issuer_name or (issuer.cert.subject if issuer else subj)
    iss_key = issuer.key if issuer else key
    b = (x509.CertificateBuilder().subject_name(subj).issuer_name(iss_name)
         .public_key(key.public_key())
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(nb or utc(2026, 1, 1)).not_valid_after(na or utc(2040, 1, 1)))
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
    if ku is not None:
        b = b.add_extension(x509.KeyUsage(**{k: bool(ku.get(k)) for k in _KU_ALL}), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(iss_key.public_key()),
                        critical=False)
    if revinfo_urls is None:
        revinfo_urls = issuer is not None and not ca
    if revinfo_urls:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier("http://crl.example-corpus.invalid/root.crl")],
            relative_name=None, reasons=None, crl_issuer=None)]), critical=False)
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP,
            x509.UniformResourceIdentifier("http://ocsp.example-corpus.invalid/"))]), critical=False)
    for ext, crit in extra:
        b = b.add_extension(ext, critical=crit)
    return Party(b.sign(iss_key, hashes.SHA256()), key)


class Pki:
    """The throwaway PKI used by the corpus (and, a subset, by the fixtures)."""

    def __init__(self, full=True):
        self.root = make_cert("Corpus Root CA", ca=True, ku=KU_CA,
                              nb=utc(2023, 1, 1), na=utc(2046, 1, 1))
        r = self.root
        self.signer = make_cert("Alice Example", issuer=r, ku=KU_SIGN)
        self.rsa_signer = make_cert("Bob Example", issuer=r, key_kind="rsa", ku=KU_SIGN)
        self.tsa = make_cert("Corpus TSA 1", issuer=r, key_kind="rsa",
                             ku=dict(digital_signature=True, content_commitment=True),
                             eku=[ExtendedKeyUsageOID.TIME_STAMPING], eku_critical=True,
                             nb=utc(2023, 6, 1))
        if not full:
            return
        self.signer2 = make_cert("Carol Example", issuer=r, ku=KU_SIGN)
        self.ocsp = make_cert("Corpus Responder R1", issuer=r, ku=dict(digital_signature=True),
                              eku=[ExtendedKeyUsageOID.OCSP_SIGNING], revinfo_urls=False,
                              extra=[(x509.OCSPNoCheck(), False)])
        self.not_ocsp = make_cert("Mallory M1", issuer=r,
                                  ku=dict(digital_signature=True))
        self.revoked = make_cert("Dave Example", issuer=r, ku=KU_SIGN)
        self.expired = make_cert("Eve Example", issuer=r, ku=KU_SIGN,
                                 nb=utc(2024, 1, 1), na=utc(2025, 6, 1))
        self.future = make_cert("Frank Example", issuer=r, ku=KU_SIGN,
                                nb=utc(2031, 1, 1), na=utc(2040, 1, 1))
        self.tsa_noeku = make_cert("Corpus TSA 2", issuer=r, key_kind="rsa",
                                   ku=dict(digital_signature=True), nb=utc(2023, 6, 1))
        self.tsa_noncrit = make_cert("Corpus TSA 3", issuer=r, key_kind="rsa",
                                     ku=dict(digital_signature=True),
                                     eku=[ExtendedKeyUsageOID.TIME_STAMPING], eku_critical=False,
                                     nb=utc(2023, 6, 1))
        self.kcs_only = make_cert("Grace Example", issuer=r, ku=dict(key_cert_sign=True))
        self.eku_ts_signer = make_cert("Heidi Example", issuer=r, ku=KU_SIGN,
                                       eku=[ExtendedKeyUsageOID.TIME_STAMPING], eku_critical=True)
        # end-entity issuers: keyUsage has keyCertSign so that only basicConstraints is wrong
        self.ee_issuer = make_cert("Ivan Example", issuer=r, ca=False,
                                   ku=dict(digital_signature=True, key_cert_sign=True))
        self.under_ee = make_cert("Judy Example", issuer=self.ee_issuer, ku=KU_SIGN)
        self.nobc_issuer = make_cert("Olivia Example", issuer=r, ca=None,
                                     ku=dict(digital_signature=True, key_cert_sign=True))
        self.under_nobc = make_cert("Peggy Example", issuer=self.nobc_issuer, ku=KU_SIGN)
        self.inter0 = make_cert("Corpus Sub CA 1", issuer=r, ca=True, pathlen=0, ku=KU_CA)
        self.inter_sub = make_cert("Corpus Sub CA 2", issuer=self.inter0, ca=True,
                                   ku=KU_CA)
        self.deep_signer = make_cert("Ken Example", issuer=self.inter_sub, ku=KU_SIGN)
        self.inter_nokcs = make_cert("Corpus Sub CA 3", issuer=r, ca=True,
                                     ku=dict(digital_signature=True))
        self.under_nokcs = make_cert("Leo Example", issuer=self.inter_nokcs,
                                     ku=KU_SIGN)
        self.unknown_crit = make_cert("Mia Example", issuer=r, ku=KU_SIGN,
                                      extra=[(x509.UnrecognizedExtension(
                                          x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.2"),
                                          b"\x05\x00"), True)])
        # signed by the root's key, but claiming a different issuer name
        self.bad_name = make_cert("Nina Example", issuer=r, ku=KU_SIGN,
                                  issuer_name=name("Corpus Root CA", "Somebody Else Ltd"))
        self.untrusted_root = make_cert("Other Root CA", ca=True, ku=KU_CA,
                                        nb=utc(2023, 1, 1), na=utc(2046, 1, 1),
                                        o="Unregistered PKI")
        self.untrusted_signer = make_cert("Mallory Example", issuer=self.untrusted_root,
                                          ku=KU_SIGN)
        self.untrusted_tsa = make_cert("Other TSA", issuer=self.untrusted_root, key_kind="rsa",
                                       ku=dict(digital_signature=True),
                                       eku=[ExtendedKeyUsageOID.TIME_STAMPING], eku_critical=True,
                                       nb=utc(2023, 6, 1))

    # ---- revocation data
    def crl(self, revoked=(), *, issuer=None, signing_key=None, this_update=None, next_update=None,
            rev_date=None):
        from asn1crypto import crl as a_crl
        issuer = issuer or self.root
        now = _dt.datetime.now(UTC)
        b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
             .last_update(this_update or now - _dt.timedelta(hours=1))
             .next_update(next_update or now + _dt.timedelta(days=7))
             .add_extension(x509.CRLNumber(1), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 (signing_key or issuer.key).public_key()), critical=False))
        for p in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(p.cert.serial_number)
                .revocation_date(rev_date or now - _dt.timedelta(days=2))
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                .build())
        der = b.sign(signing_key or issuer.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)
        return a_crl.CertificateList.load(der)

    def ocsp_response(self, subject: Party, *, status="good", responder=None, this_update=None,
                      next_update=None, issuer=None, rev_date=None):
        from asn1crypto import ocsp as a_ocsp
        from cryptography.x509 import ocsp
        issuer = issuer or self.root
        responder = responder or self.ocsp
        now = _dt.datetime.now(UTC)
        st = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED}[status]
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=subject.cert, issuer=issuer.cert, algorithm=hashes.SHA1(), cert_status=st,
            this_update=this_update or now - _dt.timedelta(hours=1),
            next_update=next_update or now + _dt.timedelta(days=2),
            revocation_time=(rev_date or now - _dt.timedelta(days=2)) if status == "revoked" else None,
            revocation_reason=x509.ReasonFlags.key_compromise if status == "revoked" else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
        if responder is not issuer:
            b = b.certificates([responder.cert])
        resp = b.sign(responder.key, hashes.SHA256())
        return a_ocsp.OCSPResponse.load(resp.public_bytes(serialization.Encoding.DER))


# --------------------------------------------------------------------------- raw PDF

def stream_obj(data: bytes, extra: bytes = b"", compress=False) -> bytes:
    if compress:
        data = zlib.compress(data, 9)
        extra = b"/Filter /FlateDecode " + extra
    return b"<< " + extra + b"/Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text_content(*lines, size=28, x=72, y=700, step=44) -> bytes:
    out = [b"BT /F1 %d Tf" % size]
    for i, ln in enumerate(lines):
        out.append(b"1 0 0 1 %d %d Tm (%s) Tj" % (x, y - i * step, ln.encode()))
    out.append(b"ET")
    return b"\n".join(out) + b"\n"


def write_pdf(objs: dict, root: int, info: int | None = None, header=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"):
    """Serialise {num: body-bytes} into a PDF with a classic xref table."""
    out = bytearray(header)
    size = max(objs) + 1
    offs = {}
    for n in sorted(objs):
        offs[n] = len(out)
        out += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for n in range(1, size):
        out += (b"%010d 00000 n \n" % offs[n]) if n in offs else b"0000000000 65535 f \n"
    idp = hashlib.md5(bytes(out)).hexdigest().encode()
    out += b"trailer\n<< /Size %d /Root %d 0 R " % (size, root)
    if info:
        out += b"/Info %d 0 R " % info
    out += b"/ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (idp, idp, x)
    return bytes(out)


# Object numbers of the standard base document.
CATALOG, PAGES, PAGE1, PAGE2, FONT, CONTENT1, ACROFORM, FIELD, CONTENT2, INFO, HELV = range(1, 12)


def base_objects(form=True, page1_content=None, page1_res_extra=b"", page1_contents_ref=None,
                 field_value=None, field_ap=None, field_da=b"/Helv 12 Tf 0 g", extra=None,
                 catalog_extra=b""):
    """The standard 2-page base document ("ORIGINAL" on both pages, one text field 'Name')."""
    o = {}
    acro = b" /AcroForm %d 0 R" % ACROFORM if form else b""
    o[CATALOG] = b"<< /Type /Catalog /Pages %d 0 R%s %s>>" % (PAGES, acro, catalog_extra)
    o[PAGES] = b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count 2 >>" % (PAGE1, PAGE2)
    annots = b" /Annots [%d 0 R]" % FIELD if form else b""
    contents = page1_contents_ref or b"%d 0 R" % CONTENT1
    o[PAGE1] = (b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> %s>> "
                b"/Contents %s%s >>" % (PAGES, FONT, page1_res_extra, contents, annots))
    o[PAGE2] = (b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
                b"/Contents %d 0 R >>" % (PAGES, FONT, CONTENT2))
    o[FONT] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    o[CONTENT1] = stream_obj(page1_content or text_content(
        "ORIGINAL", "Pay 100 EUR to Alice.", "Page 1 of 2"))
    o[CONTENT2] = stream_obj(text_content("ORIGINAL", "Page 2 of 2"))
    o[INFO] = b"<< /Title (Example corpus base document) /Producer (make_corpus.py) /CreationDate (D:20261101000000Z) /ModDate (D:20261101000000Z) >>"
    o[HELV] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    if form:
        o[ACROFORM] = b"<< /Fields [%d 0 R] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv %d 0 R >> >> >>" % (FIELD, HELV)
        v = b" /V (%s)" % field_value.encode() if field_value is not None else b""
        ap = b" /AP << /N %d 0 R >>" % field_ap if field_ap else b""
        o[FIELD] = (b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Name) /F 4 /Rect [72 480 372 510] "
                    b"/P %d 0 R /DA (%s) /MK << /BC [0 0 0] >>%s%s >>" % (PAGE1, field_da, v, ap))
    else:
        o[ACROFORM] = b"<< >>"
        o[FIELD] = b"null"
    if extra:
        o.update(extra)
    return o


def base_pdf(**kw):
    return write_pdf(base_objects(**kw), CATALOG, INFO)


# ---- raw incremental updates

def last_trailer(data: bytes):
    """(root, info, size, id, startxref) of the newest trailer (xref table or stream)."""
    sx = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    tail = data[sx:]
    if tail.startswith(b"xref"):
        t = tail[tail.index(b"trailer"):]
    else:  # xref stream: its dictionary is the trailer
        t = tail[:tail.index(b"stream")]
    root = int(re.search(rb"/Root\s+(\d+)\s+0\s+R", t).group(1))
    m = re.search(rb"/Info\s+(\d+)\s+0\s+R", t)
    size = int(re.search(rb"/Size\s+(\d+)", t).group(1))
    idm = re.search(rb"/ID\s*\[[^\]]*\]", t)
    return root, int(m.group(1)) if m else None, size, idm.group(0) if idm else b"", sx


def append_update(data: bytes, objs: dict, *, root=None, info="keep", size=None, prev="auto",
                  eol=True, raw_xref_entries=None) -> bytes:
    """Append a classic incremental update. objs: {num: body} (None = mark free).
    raw_xref_entries: {num: offset} entries written verbatim (for repointing attacks)."""
    r0, i0, s0, idb, sx = last_trailer(data)
    out = bytearray(data)
    if eol and not out.endswith(b"\n"):
        out += b"\n"
    offs = {}
    for n in sorted(objs):
        if objs[n] is None:
            continue
        offs[n] = len(out)
        out += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    entries = {n: (b"%010d 00000 n \n" % offs[n]) for n in offs}
    for n in objs:
        if objs[n] is None:
            entries[n] = b"0000000000 00001 f \n"
    for n, off in (raw_xref_entries or {}).items():
        entries[n] = b"%010d 00000 n \n" % off
    x = len(out)
    out += b"xref\n"
    if not entries:
        out += b"0 1\n0000000000 65535 f \n"
    for n in sorted(entries):
        out += b"%d 1\n" % n + entries[n]
    newsize = max([size or s0, s0] + [n + 1 for n in entries])
    out += b"trailer\n<< /Size %d /Root %d 0 R " % (newsize, root or r0)
    if info == "keep" and i0:
        out += b"/Info %d 0 R " % i0
    elif info not in ("keep", None):
        out += b"/Info %d 0 R " % info
    if prev == "auto":
        out += b"/Prev %d " % sx
    out += idb + b" >>\nstartxref\n%d\n%%%%EOF\n" % x
    return bytes(out)


def find_obj(data: bytes, num: int) -> bytes:
    """Body of the newest definition of object `num` (simple files only)."""
    ms = list(re.finditer(rb"(?<![0-9])%d 0 obj\s*(.*?)\s*endobj" % num, data, re.S))
    return ms[-1].group(1)


def sig_objects(data: bytes):
    """[(objnum, start, end)] of signature dictionaries (containing /ByteRange)."""
    res = []
    for m in re.finditer(rb"(?<![0-9])(\d+) 0 obj\s*<<", data):
        end = data.find(b"endobj", m.end())
        body = data[m.start():end]
        if b"/ByteRange" in body and b"/Contents" in body:
            res.append((int(m.group(1)), m.start(), end))
    return res


def byte_range(data: bytes, which=-1):
    ms = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data))
    return [int(x) for x in ms[which].groups()]


# --------------------------------------------------------------------------- pyHanko wrappers

@contextlib.contextmanager
def frozen_signing_time(when: _dt.datetime):
    """Make pyHanko's signer believe the wall clock says `when`."""
    from pyhanko.sign.signers import pdf_signer

    real = pdf_signer.datetime

    class FakeDT(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz) if tz else when.replace(tzinfo=None)

    pdf_signer.datetime = FakeDT
    try:
        yield
    finally:
        pdf_signer.datetime = real


def registry(*parties):
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    return SimpleCertificateStore.from_certs([p.a_cert for p in parties])


def simple_signer(p: Party, chain=(), embed_roots=True):
    from pyhanko.sign import signers
    return signers.SimpleSigner(signing_cert=p.a_cert, signing_key=p.a_key,
                                cert_registry=registry(*chain), embed_roots=embed_roots)


def dummy_tsa(tsa: Party, chain=(), fixed_dt=None, cls=None):
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    cls = cls or DummyTimeStamper
    if fixed_dt is None:
        fixed_dt = (_dt.datetime.now(UTC) - _dt.timedelta(seconds=5)).replace(microsecond=0)
    return cls(tsa_cert=tsa.a_cert, tsa_key=tsa.a_key,
               certs_to_embed=registry(*chain) if chain else None, fixed_dt=fixed_dt)


def pyh_sign(data: bytes, signer_party: Party, *, chain=(), field="Signature1", certify=False,
             p=None, subfilter="pades", timestamper=None, field_spec=None, meta_extra=None,
             md="sha256") -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    sf = {"pades": fields.SigSeedSubFilter.PADES,
          "pkcs7": fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED}[subfilter]
    kw = dict(field_name=field, subfilter=sf, md_algorithm=md, certify=certify)
    if certify:
        kw["docmdp_permissions"] = fields.MDPPerm(p or 2)
    kw.update(meta_extra or {})
    meta = signers.PdfSignatureMetadata(**kw)
    w = IncrementalPdfFileWriter(BytesIO(data), strict=False)
    out = signers.PdfSigner(meta, signer=simple_signer(signer_party, chain), timestamper=timestamper,
                            new_field_spec=field_spec).sign_pdf(w)
    return out.getvalue()


def pyh_writer(data: bytes):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    return IncrementalPdfFileWriter(BytesIO(data), strict=False)


def pyh_write(w) -> bytes:
    out = BytesIO()
    w.write(out)
    return out.getvalue()
