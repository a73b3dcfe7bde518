#!/usr/bin/env python3
"""Independent check of an SM2-with-SM3 signature on an X.509 certificate or CRL (not trustd's
code): the certificate is split with `asn1crypto`, the signature is verified with the pure-Python
SM2/SM3 of `gmssl` (both from PyPI), with the default signer ID 1234567812345678 (GB/T 35276 /
GM/T 0009), which is what GB/T 20518-2018 certificates and trustd's SM2 signatures use.

usage: verify_sm2_cert.py CERT.pem ISSUER.pem
       verify_sm2_cert.py --crl CRL.der ISSUER.pem

What it checks, and prints:
  - the signature algorithm is SM2-with-SM3 (1.2.156.10197.1.501, or 1.2.156.10197.1.301.1);
  - the issuer's public key is an SM2 key (id-ecPublicKey with the sm2p256v1 curve
    1.2.156.10197.1.301) and a point on that curve;
  - the signature (DER SEQUENCE { r, s }) verifies over the DER bytes of tbsCertificate /
    tbsCertList exactly as they are encoded in the file;
  - for information: whether the certificate's issuer (CRL's issuer) name equals the issuer's
    subject, and the validity period.
Exit status: 0 when the signature verifies, 1 when it does not, 2 for unreadable input.

This file is also imported by verify_ofd.py for its SM2/SM3 primitives (sm3, sm2_verify, the
certificate helpers): keep it free of side effects at import time.

gmssl quirks handled here (gmssl 3.2.2):
  - `CryptSM2(public_key=...)` does `public_key.lstrip("04")` when the hex starts with "04":
    that strips every leading '0' and '4' character, not just the uncompressed-point prefix,
    so a key whose x starts with 0x0…/0x4… would be mangled. We set `.public_key` to the exact
    128 hex digits of x‖y after construction.
  - `verify()` takes r‖s as hex, each exactly 64 digits: we zero-pad.
  - `verify()` checks neither 1 <= r, s < n nor that the key is on the curve: we do both.
  - gmssl's SM3 is slow (about 50 KB/s); `use_openssl_sm3()` switches the file hashing (not the
    SM2 verification) to OpenSSL's SM3 from Python's hashlib, for large documents.
"""
import argparse
import hashlib
import sys
from dataclasses import dataclass
from datetime import timezone

from asn1crypto import crl as asn1_crl
from asn1crypto import core, parser, pem, x509
from gmssl import func, sm2, sm3 as gm_sm3

OID_SM3 = "1.2.156.10197.1.401"
# SM2-with-SM3 (GB/T 33560); real files also write the SM2 signature OID 1.2.156.10197.1.301.1.
OIDS_SM2_WITH_SM3 = ("1.2.156.10197.1.501", "1.2.156.10197.1.301.1")
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
DEFAULT_ID = b"1234567812345678"  # gmssl hard-codes this ID in CryptSM2._sm3_z

# sm2p256v1 (GB/T 32918.5)
P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
A = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
B = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

_OPENSSL_SM3 = False


def use_openssl_sm3():
    """Hash files with OpenSSL's SM3 (hashlib) instead of gmssl's; SM2 stays gmssl's."""
    global _OPENSSL_SM3
    if "sm3" not in hashlib.algorithms_available:
        raise RuntimeError("this Python's OpenSSL has no SM3")
    # Known answer (GB/T 32905 appendix A.1) so a broken backend cannot pass silently.
    if hashlib.new("sm3", b"abc").hexdigest() != gm_sm3.sm3_hash(func.bytes_to_list(b"abc")):
        raise RuntimeError("OpenSSL's SM3 and gmssl's SM3 disagree")
    _OPENSSL_SM3 = True


def sm3(data: bytes) -> bytes:
    if _OPENSSL_SM3:
        return hashlib.new("sm3", data).digest()
    return bytes.fromhex(gm_sm3.sm3_hash(func.bytes_to_list(data)))


# ---------------------------------------------------------------------------------------------
# Generic DER reading: enough to walk GB/T 38540 structures leniently (BIT STRING or OCTET STRING
# where either may appear) while keeping every element's exact bytes as found in the file.


@dataclass
class Tlv:
    cls: int  # 0 universal, 1 application, 2 context-specific, 3 private
    constructed: bool
    tag: int
    raw: bytes  # header + contents (+ trailer for indefinite length), exactly as in the input
    contents: bytes

    def describe(self):
        names = {2: "INTEGER", 3: "BIT STRING", 4: "OCTET STRING", 6: "OBJECT IDENTIFIER",
                 12: "UTF8String", 16: "SEQUENCE", 17: "SET", 19: "PrintableString",
                 22: "IA5String", 23: "UTCTime", 24: "GeneralizedTime"}
        if self.cls == 0:
            return names.get(self.tag, f"universal {self.tag}")
        return f"[{self.tag}]" if self.cls == 2 else f"class {self.cls} tag {self.tag}"


def der_parse(data: bytes) -> Tlv:
    """One element that must span all of `data` (trailing bytes are an error)."""
    cls, method, tag, header, contents, trailer = parser.parse(data, strict=True)
    return Tlv(cls, method == 1, tag, header + contents + trailer, contents)


def der_children(t: Tlv) -> list:
    """The elements inside a constructed element, in order."""
    if not t.constructed:
        raise ValueError(f"{t.describe()} is not constructed")
    out, rest = [], t.contents
    while rest:
        cls, method, tag, header, contents, trailer = parser.parse(rest)
        raw = header + contents + trailer
        out.append(Tlv(cls, method == 1, tag, raw, contents))
        rest = rest[len(raw):]
    return out


def expect(t: Tlv, tag: int, what: str):
    if t.cls != 0 or t.tag != tag:
        raise ValueError(f"{what}: expected universal tag {tag}, found {t.describe()}")
    return t


def der_int(t: Tlv, what="INTEGER") -> int:
    expect(t, 2, what)
    return int.from_bytes(t.contents, "big", signed=True)


def der_oid(t: Tlv, what="OBJECT IDENTIFIER") -> str:
    expect(t, 6, what)
    return core.ObjectIdentifier.load(t.raw).dotted


def der_string(t: Tlv, what="string") -> str:
    """IA5String, UTF8String, PrintableString (or VisibleString) as text."""
    if t.cls != 0 or t.tag not in (12, 19, 22, 26):
        raise ValueError(f"{what}: expected a string, found {t.describe()}")
    return t.contents.decode("utf-8" if t.tag == 12 else "ascii")


def der_time(t: Tlv, what="time"):
    """GeneralizedTime (or UTCTime, read leniently) as an aware datetime; a time without a zone
    (not DER) is taken as UTC."""
    if t.cls == 0 and t.tag == 24:
        value = core.GeneralizedTime.load(t.raw).native
    elif t.cls == 0 and t.tag == 23:
        value = core.UTCTime.load(t.raw).native
    else:
        raise ValueError(f"{what}: expected GeneralizedTime, found {t.describe()}")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def der_octets(t: Tlv, what="octets") -> bytes:
    """The bytes carried by a BIT STRING (no unused bits) or an OCTET STRING: GB/T 38540
    specifies BIT STRING in places where real files write OCTET STRING, so accept both."""
    if t.cls == 0 and t.tag == 3 and not t.constructed:
        if not t.contents or t.contents[0] != 0:
            raise ValueError(f"{what}: BIT STRING with unused bits")
        return t.contents[1:]
    if t.cls == 0 and t.tag == 4 and not t.constructed:
        return t.contents
    raise ValueError(f"{what}: expected BIT STRING or OCTET STRING, found {t.describe()}")


# ---------------------------------------------------------------------------------------------
# SM2


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def decode_sm2_signature(sig: bytes):
    """(r, s, format): DER SEQUENCE { INTEGER r, INTEGER s } as GB/T 35276 specifies, or the
    raw 64 bytes r‖s some producers write."""
    try:
        seq = der_parse(sig)
        if seq.cls == 0 and seq.tag == 16:
            items = der_children(seq)
            if len(items) == 2:
                return der_int(items[0], "r"), der_int(items[1], "s"), "DER SEQUENCE{r,s}"
    except ValueError:
        pass
    if len(sig) == 64:
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"), "raw r||s"
    raise ValueError(f"SM2 signature is neither DER SEQUENCE{{r,s}} nor 64 raw bytes "
                     f"({len(sig)} bytes)")


def sm2_verify(public_point: bytes, signature: bytes, message: bytes):
    """Verify an SM2 signature (SM3, default ID) of `message`. `public_point` is the
    uncompressed point 04‖x‖y. Returns (ok: bool, signature format: str)."""
    if len(public_point) != 65 or public_point[0] != 4:
        raise ValueError("SM2 public key is not an uncompressed point (04||x||y)")
    x = int.from_bytes(public_point[1:33], "big")
    y = int.from_bytes(public_point[33:], "big")
    if not on_curve(x, y):
        raise ValueError("SM2 public key is not on the sm2p256v1 curve")
    r, s, fmt = decode_sm2_signature(signature)
    if not (1 <= r < N and 1 <= s < N):
        return False, fmt
    xy = public_point[1:].hex()
    crypt = sm2.CryptSM2(private_key=None, public_key=xy)
    crypt.public_key = xy  # undo gmssl's lstrip("04"), see the module docstring
    return bool(crypt.verify_with_sm3(f"{r:064x}{s:064x}", message)), fmt


# ---------------------------------------------------------------------------------------------
# Certificates


def load_cert_ders(path: str) -> list:
    """Every certificate in a PEM file (or the single one in a DER file), as DER bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if pem.detect(data):
        return [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    return [data]


def load_cert(der: bytes) -> x509.Certificate:
    cert = x509.Certificate.load(der)
    cert["tbs_certificate"]  # force parsing now so malformed input fails here
    return cert


def describe_cert(cert: x509.Certificate) -> dict:
    tbs = cert["tbs_certificate"]
    return {
        "subject": cert.subject.human_friendly,
        "issuer": cert.issuer.human_friendly,
        "serial": format(tbs["serial_number"].native, "X"),
        "not_before": tbs["validity"]["not_before"].native.isoformat(),
        "not_after": tbs["validity"]["not_after"].native.isoformat(),
    }


def sm2_public_point(cert: x509.Certificate) -> bytes:
    """The SM2 public key (04‖x‖y) of a certificate; ValueError if it is not an SM2 key."""
    spki = der_children(der_parse(cert["tbs_certificate"]["subject_public_key_info"].dump()))
    alg = der_children(spki[0])
    alg_oid = der_oid(alg[0], "public key algorithm")
    curve = der_oid(alg[1], "curve") if len(alg) > 1 and alg[1].tag == 6 else None
    # GB/T 20518: id-ecPublicKey with sm2p256v1; some old certificates name SM2 as the algorithm.
    if not ((alg_oid == OID_EC_PUBLIC_KEY and curve == OID_SM2_CURVE) or alg_oid == OID_SM2_CURVE):
        raise ValueError(f"not an SM2 public key (algorithm {alg_oid}, curve {curve})")
    return der_octets(expect(spki[1], 3, "subjectPublicKey"), "subjectPublicKey")


def check_signed_object(tbs_raw: bytes, alg_oid: str, signature: bytes, issuer: x509.Certificate):
    """(ok, detail) for an SM2-with-SM3 signature over `tbs_raw` by `issuer`'s key."""
    if alg_oid not in OIDS_SM2_WITH_SM3:
        return False, f"signature algorithm {alg_oid} is not SM2-with-SM3"
    try:
        ok, fmt = sm2_verify(sm2_public_point(issuer), signature, tbs_raw)
    except ValueError as e:
        return False, str(e)
    return ok, f"{fmt}, SM2 with SM3 and ID {DEFAULT_ID.decode()} over {len(tbs_raw)} bytes"


def check_cert_signature(cert: x509.Certificate, issuer: x509.Certificate):
    """(ok, detail): cert's signature verifies with issuer's SM2 key over tbsCertificate."""
    return check_signed_object(
        cert["tbs_certificate"].dump(),  # asn1crypto keeps the bytes as parsed
        cert["signature_algorithm"]["algorithm"].dotted,
        cert["signature_value"].native,
        issuer,
    )


def is_self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crl", action="store_true", help="the first file is a CRL (DER or PEM)")
    ap.add_argument("subject", help="CERT.pem (or CRL with --crl)")
    ap.add_argument("issuer", help="ISSUER.pem")
    args = ap.parse_args()
    try:
        issuer_ders = load_cert_ders(args.issuer)
        if len(issuer_ders) != 1:
            raise ValueError(f"{args.issuer}: expected one certificate, found {len(issuer_ders)}")
        issuer = load_cert(issuer_ders[0])
        if args.crl:
            with open(args.subject, "rb") as f:
                data = f.read()
            if pem.detect(data):
                data = pem.unarmor(data)[2]
            crl = asn1_crl.CertificateList.load(data)
            tbs = crl["tbs_cert_list"]
            what = "CRL"
            name = tbs["issuer"]
            tbs_raw, alg = tbs.dump(), crl["signature_algorithm"]["algorithm"].dotted
            sig = crl["signature"].native
            print(f"CRL: issuer {name.human_friendly}; thisUpdate {tbs['this_update'].native}; "
                  f"nextUpdate {tbs['next_update'].native}; "
                  f"{len(tbs['revoked_certificates'] or [])} revoked entries")
        else:
            ders = load_cert_ders(args.subject)
            if len(ders) != 1:
                raise ValueError(f"{args.subject}: expected one certificate, found {len(ders)}")
            cert = load_cert(ders[0])
            what = "certificate"
            name = cert.issuer
            tbs_raw = cert["tbs_certificate"].dump()
            alg = cert["signature_algorithm"]["algorithm"].dotted
            sig = cert["signature_value"].native
            d = describe_cert(cert)
            print(f"certificate: subject {d['subject']}; serial {d['serial']}; "
                  f"valid {d['not_before']} .. {d['not_after']}")
    except (OSError, ValueError, TypeError) as e:
        print(f"unreadable input: {e}", file=sys.stderr)
        return 2
    print(f"issuer certificate: subject {issuer.subject.human_friendly}")
    print(f"{what}'s issuer name equals the issuer certificate's subject: "
          f"{'yes' if name == issuer.subject else 'NO'}")
    print(f"signature algorithm: {alg}")
    ok, detail = check_signed_object(tbs_raw, alg, sig, issuer)
    print(f"signature over tbs{'CertList' if args.crl else 'Certificate'}: "
          f"{'VALID' if ok else 'INVALID'} ({detail})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
