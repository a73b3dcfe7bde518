#!/usr/bin/env python3
"""Independent verifier of electronic seals on OFD documents (not trustd's code).

An OFD (GB/T 33190-2016) is a zip package; its seals follow GB/T 38540-2020 (SES v4: SM2 with
SM3). This script checks them with only `gmssl` (pure-Python SM2/SM3) and `asn1crypto` (ASN.1),
both from PyPI, plus the SM2 helpers of verify_sm2_cert.py beside it. It reads every structure
generically (tag by tag, keeping the exact bytes found in the file), so it accepts OCTET STRING
where GB/T 38540 says BIT STRING, as real files do.

usage: verify_ofd.py [--ca CA.pem]... [--require-timestamp] [--openssl-sm3] FILE.ofd

For every signature in every Doc_N/Signs/Signatures.xml (found through OFD.xml → DocBody →
Signatures; paths absolute "/Doc_0/…" or relative to the directory of the file holding them):
  1. references: each <Reference FileRef><CheckValue> of Signature.xml is the SM3 (CheckMethod
     "SM3" or 1.2.156.10197.1.401) of that file of the zip, base64;
  2. coverage: every file of the zip is referenced, except this signature's Signature.xml and
     SignedValue.dat, Signatures.xml (a later seal rewrites it; ofdrw's ContinueSign mode leaves
     it out), and the Signature.xml / SignedValue / Seal files of LATER signatures in the list.
     Reported apart from digest failures, as "uncovered";
  3. SignedValue.dat as SES_Signature v4: dataHash = SM3(raw Signature.xml bytes); propertyInfo
     names Signature.xml; the signer's SM2 signature over the DER of TBS_Sign as encoded in the
     file (DER SEQUENCE{r,s} or raw r||s), default ID 1234567812345678; the seal maker's SM2
     signature over the DER of SES_SealInfo (what ofdrw and the tax-invoice platform sign: checked
     on both samples); the signer's certificate in the seal's certList (type 1: certificates,
     type 2: digests); the seal's validity [validStart, validEnd] against timeInfo; and, when the
     signature names a <Seal BaseLoc> file, that it holds exactly the seal inside SignedValue.dat
     (ofdrw's validator checks the same);
  4. with --ca: the signer's and maker's certificates chain, by SM2-with-SM3 certificate
     signatures, to a self-signed certificate among the given ones (others given are usable as
     intermediates); without --ca, chain_ok is null ("not checked");
  5. timeStamp [0] (RFC 3161 TimeStampToken, over the signature value): messageImprint is the
     hash (SM3 or SHA-256) of the signature BIT STRING's bytes, messageDigest is the hash of the
     encapsulated TSTInfo, and an SM2 TSA signature verifies over the signed attributes (as a SET).

Output: a JSON array on stdout, one object per signature. Exit status 0 when every signature
passes references, coverage, dataHash, signature, maker signature, cert list, seal file match,
chain (with --ca), time-stamp (when present, or always with --require-timestamp: imprint,
messageDigest, SM2 signature, and with --ca the TSA's chain); 1 otherwise;
2 when the input is unreadable or has no signature. The seal's and certificate's validity at
signing time are reported (with a warning) but do not change the exit status.
"""
import argparse
import base64
import hashlib
import json
import os
import posixpath
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter

from asn1crypto import cms, tsp

sys.dont_write_bytecode = True  # no __pycache__ left in the repository by the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_sm2_cert import (  # noqa: E402  (same directory, not trustd)
    OID_SM3,
    OIDS_SM2_WITH_SM3,
    check_cert_signature,
    der_children,
    der_int,
    der_octets,
    der_oid,
    der_parse,
    der_string,
    der_time,
    describe_cert,
    is_self_issued,
    load_cert,
    load_cert_ders,
    sm2_public_point,
    sm2_verify,
    sm3,
    use_openssl_sm3,
)

OID_SHA256 = "2.16.840.1.101.3.4.2.1"
SM3_NAMES = {"sm3", OID_SM3}
MAX_CHAIN = 8  # certificates walked before giving up on a chain


class Unreadable(Exception):
    """The package itself cannot be read: exit status 2."""


def digest(alg: str, data: bytes) -> bytes:
    """SM3 (by name or OID) or SHA-256; ValueError for anything else."""
    a = alg.strip().lower()
    if a in SM3_NAMES:
        return sm3(data)
    if a in ("sha256", "sha-256", OID_SHA256):
        return hashlib.sha256(data).digest()
    raise ValueError(f"unsupported digest algorithm {alg!r}")


# ---------------------------------------------------------------------------------------------
# The zip package and its paths


class Package:
    def __init__(self, path):
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise Unreadable(f"{path}: not a readable zip: {e}")
        names = [i.filename for i in self.zip.infolist() if not i.is_dir()]
        # Two entries with one name: readers disagree on which one counts (a classic way to show
        # one content and verify another), so it is an error for every signature.
        counts = Counter("/" + n.lstrip("/") for n in names)
        self.duplicates = sorted(n for n, c in counts.items() if c > 1)
        self.files = {"/" + n.lstrip("/"): n for n in names}

    def exists(self, path):
        return path in self.files

    def read(self, path) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(f"{path} is not in the package")
        return self.zip.read(self.files[path])


def resolve(base_file: str, loc: str) -> str:
    """ST_Loc → absolute package path: "/x" is from the root, anything else is relative to the
    directory of `base_file` (GB/T 33190's ST_Loc). Refuses to climb above the root."""
    loc = loc.strip().replace("\\", "/")
    start = "/" if loc.startswith("/") else posixpath.dirname(base_file)
    parts = []
    for seg in (start + "/" + loc).split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                raise ValueError(f"path {loc!r} climbs above the package root")
            parts.pop()
        else:
            parts.append(seg)
    return "/" + "/".join(parts)


def locate(pkg: Package, base_file: str, loc: str, warnings: list) -> str:
    """resolve(), with one leniency: a relative path that does not exist beside `base_file` but
    does from the root (some producers write "Doc_0/…" meaning "/Doc_0/…") is taken from the
    root, with a warning."""
    path = resolve(base_file, loc)
    if not pkg.exists(path) and not loc.strip().startswith("/"):
        alt = resolve("/", loc)
        if pkg.exists(alt):
            warnings.append(f"{loc!r} (in {base_file}) read from the package root as {alt}")
            return alt
    return path


# ---------------------------------------------------------------------------------------------
# XML: match elements by local name, with the ofd: namespace (http://www.ofdspec.org/2016) or none


def parse_xml(pkg: Package, path: str):
    try:
        return ET.fromstring(pkg.read(path))
    except ET.ParseError as e:
        raise ValueError(f"{path}: not well-formed XML: {e}")


def local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def kids(el, name):
    return [c for c in el if local(c.tag) == name] if el is not None else []


def kid(el, name):
    found = kids(el, name)
    return found[0] if found else None


def text(el) -> str:
    return (el.text or "").strip() if el is not None else ""


# ---------------------------------------------------------------------------------------------
# Signatures.xml and Signature.xml


def signature_lists(pkg: Package):
    """[(Signatures.xml path, [entry, …])] for every DocBody that has Signatures; an entry is
    {"id", "type", "signature_xml"} in document order."""
    if not pkg.exists("/OFD.xml"):
        raise Unreadable("no OFD.xml at the package root")
    try:
        root = parse_xml(pkg, "/OFD.xml")
    except ValueError as e:
        raise Unreadable(str(e))
    lists = []
    for body in kids(root, "DocBody"):
        loc = text(kid(body, "Signatures"))
        if not loc:
            continue
        warnings = []
        path = locate(pkg, "/OFD.xml", loc, warnings)
        try:
            sroot = parse_xml(pkg, path)
        except (FileNotFoundError, ValueError) as e:
            raise Unreadable(f"Signatures list {loc!r}: {e}")
        entries = []
        for s in kids(sroot, "Signature"):
            w, errors, sig_xml = list(warnings), [], None
            try:
                if not s.get("BaseLoc", "").strip():
                    raise ValueError("missing")
                sig_xml = locate(pkg, path, s.get("BaseLoc"), w)
            except ValueError as e:
                errors.append(f"BaseLoc: {e}")
            entries.append({
                "id": s.get("ID"),
                "type": s.get("Type", "Seal"),  # GB/T 33190: Type defaults to Seal
                "signature_xml": sig_xml,
                "warnings": w,
                "errors": errors,
            })
        lists.append((path, entries))
    return lists


def signature_files(pkg: Package, sig_xml: str, warnings: list):
    """(root element, SignedValue path or None, Seal file path or None) of a Signature.xml."""
    root = parse_xml(pkg, sig_xml)
    signed_info = kid(root, "SignedInfo")
    sv = text(kid(root, "SignedValue"))
    seal_loc = text(kid(kid(signed_info, "Seal"), "BaseLoc")) if signed_info is not None else ""
    return (
        root,
        locate(pkg, sig_xml, sv, warnings) if sv else None,
        locate(pkg, sig_xml, seal_loc, warnings) if seal_loc else None,
    )


def check_references(pkg: Package, sig_xml: str, signed_info, out: dict):
    """Step 1. Fills references_ok / bad_references; returns the set of referenced paths."""
    refs_el = kid(signed_info, "References")
    referenced = set()
    bad = out["bad_references"]
    if refs_el is None:
        out["errors"].append("Signature.xml has no References")
        return referenced
    method = refs_el.get("CheckMethod", "")
    out["check_method"] = method
    refs = kids(refs_el, "Reference")
    out["reference_count"] = len(refs)
    if method.strip().lower() not in SM3_NAMES:
        # GB/T 38540 seals digest with SM3; an absent or other CheckMethod is not accepted.
        out["errors"].append(f"References CheckMethod {method!r} is not SM3")
        return referenced
    for ref in refs:
        loc = ref.get("FileRef", "")
        try:
            path = locate(pkg, sig_xml, loc, out["warnings"])
        except ValueError as e:
            bad.append({"file": loc, "problem": str(e)})
            continue
        referenced.add(path)
        try:
            expected = base64.b64decode(text(kid(ref, "CheckValue")), validate=True)
        except ValueError:
            bad.append({"file": path, "problem": "CheckValue is not base64"})
            continue
        if not pkg.exists(path):
            bad.append({"file": path, "problem": "missing from the package"})
            continue
        actual = sm3(pkg.read(path))
        if actual != expected:
            bad.append({"file": path, "problem": "SM3 digest mismatch",
                        "expected": expected.hex(), "actual": actual.hex()})
    out["references_ok"] = bool(refs) and not bad
    return referenced


# ---------------------------------------------------------------------------------------------
# SES_Signature v4 (GB/T 38540-2020)


def parse_ses_signature(data: bytes) -> dict:
    """The fields of SES_Signature v4 as Tlv elements (exact bytes kept) plus decoded values."""
    top = der_children(der_parse(data))
    if len(top) == 2:
        raise ValueError("SES_Signature has 2 fields: GM/T 0031-2014 (v1), not handled here")
    if not 4 <= len(top) <= 5:
        raise ValueError(f"SES_Signature has {len(top)} fields, expected 4 or 5")
    to_sign, cert, alg, sig = top[:4]
    ts = None
    if len(top) > 4:
        if top[4].cls != 2 or top[4].tag != 0:
            raise ValueError(f"SES_Signature's fifth field is {top[4].describe()}, "
                             "not timeStamp [0]")
        ts = top[4]
    tbs = der_children(to_sign)
    if not 5 <= len(tbs) <= 6:
        raise ValueError(f"TBS_Sign has {len(tbs)} fields, expected 5 or 6")
    return {
        "to_sign": to_sign,
        "version": der_int(tbs[0], "TBS_Sign.version"),
        "eseal": tbs[1],
        "time_info": der_time(tbs[2], "TBS_Sign.timeInfo"),
        "data_hash_tlv": tbs[3],
        "data_hash": der_octets(tbs[3], "TBS_Sign.dataHash"),
        "property_info": der_string(tbs[4], "TBS_Sign.propertyInfo"),
        "cert": der_octets(cert, "SES_Signature.cert"),
        "cert_tlv": cert,
        "alg": der_oid(alg, "SES_Signature.signatureAlgID"),
        "signature": der_octets(sig, "SES_Signature.signature"),
        "signature_tlv": sig,
        "timestamp": ts,
    }


def parse_seal(eseal) -> dict:
    """SESeal v4 { esealInfo, cert, signAlgID, signedValue } and the parts of SES_SealInfo used."""
    parts = der_children(eseal)
    if len(parts) != 4:
        raise ValueError(f"SESeal has {len(parts)} fields, expected 4 (v4)")
    info, cert, alg, signed = parts
    info_fields = der_children(info)
    header = der_children(info_fields[0])
    prop = der_children(info_fields[2])
    if len(prop) != 7:
        raise ValueError(f"SES_ESPropertyInfo has {len(prop)} fields, expected 7 (v4)")
    return {
        "info": info,
        "header_id": der_string(header[0], "SES_Header.id"),
        "header_version": der_int(header[1], "SES_Header.version"),
        "vid": der_string(header[2], "SES_Header.vid"),
        "es_id": der_string(info_fields[1], "esID"),
        "seal_type": der_int(prop[0], "property.type"),
        "name": der_string(prop[1], "property.name"),
        "cert_list_type": der_int(prop[2], "property.certListType"),
        "cert_list": der_children(prop[3]),
        "create_date": der_time(prop[4], "property.createDate"),
        "valid_start": der_time(prop[5], "property.validStart"),
        "valid_end": der_time(prop[6], "property.validEnd"),
        "picture_type": der_string(der_children(info_fields[3])[0], "picture.type"),
        "cert": der_octets(cert, "SESeal.cert"),
        "cert_tlv": cert,
        "alg": der_oid(alg, "SESeal.signAlgID"),
        "signed_value": der_octets(signed, "SESeal.signedValue"),
        "signed_value_tlv": signed,
    }


def signer_in_cert_list(seal: dict, signer_der: bytes):
    """certListType 1: SEQUENCE OF OCTET STRING (certificates); 2: SEQUENCE OF CertDigestObj
    { type PrintableString (hash name), value OCTET STRING }."""
    if seal["cert_list_type"] == 1:
        return any(der_octets(c, "certList entry") == signer_der for c in seal["cert_list"])
    if seal["cert_list_type"] == 2:
        for obj in seal["cert_list"]:
            kind, value = der_children(obj)[:2]
            try:
                if digest(der_string(kind), signer_der) == der_octets(value):
                    return True
            except ValueError:
                continue
        return False
    raise ValueError(f"unknown certListType {seal['cert_list_type']}")


# ---------------------------------------------------------------------------------------------
# Chains (step 4) and time-stamps (step 5)


def chain_check(cert, anchors: list) -> dict:
    """Walk leaf → issuer among the given certificates, each link an SM2-with-SM3 signature,
    until a self-signed given certificate. {"ok", "path": [subjects], "problem"?}."""
    path, cur = [cert.subject.human_friendly], cert
    for _ in range(MAX_CHAIN):
        issuers = [a for a in anchors if a.subject == cur.issuer]
        link = None
        for cand in issuers:
            ok, _ = check_cert_signature(cur, cand)
            if ok:
                link = cand
                break
        if link is None:
            why = "no given certificate has its issuer's name" if not issuers else \
                "its signature verifies with no given certificate of its issuer's name"
            return {"ok": False, "path": path, "problem": f"{cur.subject.human_friendly}: {why}"}
        if link is not cur:
            path.append(link.subject.human_friendly)
            if link.ca is not True and not is_self_issued(link):
                return {"ok": False, "path": path,
                        "problem": "an issuer is not a CA (basicConstraints)"}
        if is_self_issued(link) and check_cert_signature(link, link)[0]:
            return {"ok": True, "path": path}
        cur = link
    return {"ok": False, "path": path, "problem": "chain too long"}


def timestamp_token_der(ts) -> bytes:
    """timeStamp [0]: ofdrw writes [0] EXPLICIT BIT STRING holding the token's DER; accept an
    OCTET STRING inside, the ContentInfo itself inside, or [0] IMPLICIT BIT/OCTET STRING."""
    if ts.constructed:
        inner = der_children(ts)
        if len(inner) != 1:
            raise ValueError("timeStamp [0] holds more than one element")
        if inner[0].cls == 0 and inner[0].tag == 16:
            return inner[0].raw
        return der_octets(inner[0], "timeStamp")
    c = ts.contents
    return c[1:] if c[:2] == b"\x00\x30" else c


def check_timestamp(ts, signature_value: bytes, anchors, time_info) -> dict:
    out = {"imprint_ok": False, "message_digest_ok": False, "signature_ok": None,
           "gen_time": None, "chain_ok": None}
    token = cms.ContentInfo.load(timestamp_token_der(ts))
    if token["content_type"].native != "signed_data":
        raise ValueError(f"time-stamp token is {token['content_type'].native}, not SignedData")
    sd = token["content"]
    encap = sd["encap_content_info"]
    if encap["content_type"].dotted != "1.2.840.113549.1.9.16.1.4":
        raise ValueError("time-stamp token does not encapsulate a TSTInfo")
    tst_der = encap["content"].contents  # the eContent OCTET STRING's bytes: the TSTInfo DER
    tst = tsp.TSTInfo.load(tst_der)
    imprint = tst["message_imprint"]
    out["hash_algorithm"] = imprint["hash_algorithm"]["algorithm"].dotted
    out["gen_time"] = tst["gen_time"].native.isoformat()
    out["gen_time_after_time_info"] = tst["gen_time"].native >= time_info
    expected = imprint["hashed_message"].native
    out["imprint_ok"] = digest(out["hash_algorithm"], signature_value) == expected

    signer_infos = sd["signer_infos"]
    if len(signer_infos) != 1:
        raise ValueError(f"time-stamp token has {len(signer_infos)} signer infos")
    si = signer_infos[0]
    attrs = si["signed_attrs"]
    if not attrs:
        raise ValueError("time-stamp signer info has no signed attributes")
    md_alg = si["digest_algorithm"]["algorithm"].dotted
    md = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    out["message_digest_ok"] = len(md) == 1 and digest(md_alg, tst_der) == md[0]

    # The TSA certificate: the one the signer identifier names.
    sid = si["sid"]
    tsa = None
    for c in sd["certificates"] or []:
        if c.name != "certificate":
            continue
        c = c.chosen
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if c.issuer == ias["issuer"] and c.serial_number == ias["serial_number"].native:
                tsa = c
        elif c.key_identifier == sid.chosen.native:
            tsa = c
    sig_alg = si["signature_algorithm"]["algorithm"].dotted
    out["signature_algorithm"] = sig_alg
    if tsa is None:
        out["signature_ok"] = False
        out["problem"] = "the TSA certificate is not in the token"
        return out
    out["tsa"] = tsa.subject.human_friendly
    if sig_alg in OIDS_SM2_WITH_SM3 or sig_alg == "1.2.156.10197.1.301":
        # RFC 5652 §5.4: the signature is over the DER of the signed attributes as a SET (0x31).
        signed = b"\x31" + attrs.dump()[1:]
        out["signature_ok"] = sm2_verify(sm2_public_point(tsa), si["signature"].native, signed)[0]
    else:
        out["problem"] = f"signature algorithm {sig_alg} not checked (only SM2 is)"
    if anchors:
        out["chain"] = chain_check(tsa, anchors)
        out["chain_ok"] = out["chain"]["ok"]
    return out


def timestamp_ok(t, with_ca: bool) -> bool:
    return bool(t and t.get("imprint_ok") and t.get("message_digest_ok")
                and t.get("signature_ok") is True and (not with_ca or t.get("chain_ok") is True))


# ---------------------------------------------------------------------------------------------
# One signature


def later_signature_files(pkg: Package, later: list) -> set:
    """Files that later signatures added: their Signature.xml, SignedValue and Seal files."""
    files = set()
    for e in later:
        if not e["signature_xml"]:
            continue
        files.add(e["signature_xml"])
        try:
            _, sv, seal = signature_files(pkg, e["signature_xml"], [])
            files.update(p for p in (sv, seal) if p)
        except (FileNotFoundError, ValueError):
            pass  # that signature's own result reports the problem
    return files


class Abort(Exception):
    """A signature cannot be checked further; the message goes to its "errors"."""


def new_result(entry) -> dict:
    return {
        "id": entry["id"], "type": entry["type"], "signature_xml": entry["signature_xml"],
        "references_ok": False, "reference_count": 0, "bad_references": [], "uncovered": [],
        "coverage_ok": False, "data_hash_ok": False, "property_info": None,
        "property_info_ok": False, "signature_ok": False, "seal_maker_signature_ok": False,
        "seal_file_matches": None, "signer_in_cert_list": False, "seal_valid_at_signing": None,
        "signer_cert_valid_at_signing": None, "chain_ok": None, "chain": "not checked",
        "timestamp": None, "errors": list(entry["errors"]), "warnings": list(entry["warnings"]),
    }


def verify_signature(pkg, all_lists, entry, later, anchors, require_ts) -> dict:
    """Steps 1 to 5 of the module docstring for one entry of Signatures.xml."""
    out = new_result(entry)
    if pkg.duplicates:
        out["errors"].append(f"zip entries with the same name: {pkg.duplicates}")
    try:
        sig_xml, signed_info, sv_path, seal_path = read_signature_xml(pkg, entry, out)
        # 1. references, 2. coverage
        referenced = check_references(pkg, sig_xml, signed_info, out)
        lists = {p for p, _ in all_lists}
        exempt = {sig_xml, sv_path} | lists | later_signature_files(pkg, later)
        out["uncovered"] = sorted(set(pkg.files) - exempt - referenced)
        out["coverage_ok"] = not out["uncovered"]
        if referenced & lists:
            out["warnings"].append("Signatures.xml is referenced: a later seal breaks this one")
        # 3. SignedValue.dat
        ses, seal, signer, maker = read_signed_value(pkg, sv_path, out)
        check_seal(pkg, sig_xml, seal_path, ses, seal, signer, maker, out)
        check_times(ses, seal, signer, out)
        # 4. chains
        if anchors:
            out["chain"] = {"signer": chain_check(signer, anchors),
                            "maker": chain_check(maker, anchors)}
            out["chain_ok"] = out["chain"]["signer"]["ok"] and out["chain"]["maker"]["ok"]
        # 5. time-stamp
        if ses["timestamp"] is not None:
            try:
                out["timestamp"] = check_timestamp(ses["timestamp"], ses["signature"], anchors,
                                                   ses["time_info"])
            except (ValueError, TypeError, KeyError, IndexError) as e:
                out["timestamp"] = {"imprint_ok": False, "signature_ok": False, "gen_time": None,
                                    "problem": f"unreadable time-stamp: {e}"}
    except Abort as e:
        out["errors"].append(str(e))
    return finish(out, anchors, require_ts)


def read_signature_xml(pkg, entry, out):
    """(path, SignedInfo element, SignedValue path, Seal file path or None) of a signature."""
    sig_xml = entry["signature_xml"]
    if not sig_xml:
        raise Abort("no usable BaseLoc in Signatures.xml")
    try:
        root, sv_path, seal_path = signature_files(pkg, sig_xml, out["warnings"])
    except (FileNotFoundError, ValueError) as e:
        raise Abort(f"Signature.xml: {e}")
    signed_info = kid(root, "SignedInfo")
    if signed_info is None:
        raise Abort("Signature.xml has no SignedInfo")
    if not sv_path:
        raise Abort("Signature.xml has no SignedValue")
    out["signed_value"] = sv_path
    out["seal_file"] = seal_path
    out["signature_method"] = text(kid(signed_info, "SignatureMethod"))
    out["signature_date_time"] = text(kid(signed_info, "SignatureDateTime"))
    return sig_xml, signed_info, sv_path, seal_path


def read_signed_value(pkg, sv_path, out):
    """Parse SignedValue.dat: (SES_Signature fields, SESeal fields, signer cert, maker cert)."""
    try:
        ses = parse_ses_signature(pkg.read(sv_path))
        seal = parse_seal(ses["eseal"])
        signer = load_cert(ses["cert"])
        maker = load_cert(seal["cert"])
        out["signer"] = describe_cert(signer)
        maker_desc = describe_cert(maker)
    except (FileNotFoundError, ValueError, TypeError, KeyError, IndexError) as e:
        raise Abort(f"SignedValue: {e}")
    out["encodings"] = {
        "dataHash": ses["data_hash_tlv"].describe(),
        "signature": ses["signature_tlv"].describe(),
        "cert": ses["cert_tlv"].describe(),
        "seal_signedValue": seal["signed_value_tlv"].describe(),
        "seal_cert": seal["cert_tlv"].describe(),
    }
    if ses["version"] != 4 or seal["header_id"] != "ES" or seal["header_version"] != 4:
        out["errors"].append(f"not a v4 seal: TBS_Sign version {ses['version']}, "
                             f"header {seal['header_id']!r} v{seal['header_version']}")
    out["time_info"] = ses["time_info"].isoformat()
    out["seal"] = {
        "name": seal["name"], "esID": seal["es_id"], "vid": seal["vid"],
        "type": seal["seal_type"], "picture_type": seal["picture_type"],
        "cert_list_type": seal["cert_list_type"],
        "valid_start": seal["valid_start"].isoformat(),
        "valid_end": seal["valid_end"].isoformat(),
        "maker": maker_desc,
    }
    return ses, seal, signer, maker


def check_seal(pkg, sig_xml, seal_path, ses, seal, signer, maker, out):
    """dataHash, propertyInfo, the signer's and maker's SM2 signatures, certList, Seal file."""
    out["data_hash_ok"] = sm3(pkg.read(sig_xml)) == ses["data_hash"]
    out["property_info"] = ses["property_info"]
    try:
        out["property_info_ok"] = resolve("/", ses["property_info"]) == sig_xml
    except ValueError:
        pass
    if not out["property_info_ok"]:
        out["warnings"].append(f"propertyInfo {ses['property_info']!r} does not name {sig_xml}")
    if ses["alg"] != out["signature_method"]:
        out["warnings"].append(f"signatureAlgID {ses['alg']} differs from SignatureMethod "
                               f"{out['signature_method']!r}")

    # GB/T 38540: the signer signs TBS_Sign, the maker signs SES_SealInfo, each as the DER found
    # in the file (both samples confirm the maker's bytes are SES_SealInfo alone).
    for key, alg, cert, sig, tbs in (
        ("signature_ok", ses["alg"], signer, ses["signature"], ses["to_sign"].raw),
        ("seal_maker_signature_ok", seal["alg"], maker, seal["signed_value"], seal["info"].raw),
    ):
        if alg not in OIDS_SM2_WITH_SM3:
            out["errors"].append(f"{key}: algorithm {alg} is not SM2-with-SM3")
            continue
        try:
            out[key], fmt = sm2_verify(sm2_public_point(cert), sig, tbs)
            out["encodings"][key.replace("_ok", "_format")] = fmt
        except ValueError as e:
            out["errors"].append(f"{key}: {e}")

    try:
        out["signer_in_cert_list"] = signer_in_cert_list(seal, ses["cert"])
    except (ValueError, IndexError) as e:
        out["errors"].append(f"certList: {e}")
    if seal_path:
        try:
            out["seal_file_matches"] = pkg.read(seal_path) == ses["eseal"].raw
        except FileNotFoundError:
            out["seal_file_matches"] = False


def check_times(ses, seal, signer, out):
    """Reported, not failing: the seal's and the signer certificate's validity at timeInfo."""
    at = ses["time_info"]
    start, end = seal["valid_start"], seal["valid_end"]
    out["seal_valid_at_signing"] = start <= at <= end
    if not out["seal_valid_at_signing"]:
        out["warnings"].append(f"signed at {at.isoformat()}, outside the seal's validity "
                               f"{start.isoformat()} .. {end.isoformat()}")
    validity = signer["tbs_certificate"]["validity"]
    nb, na = validity["not_before"].native, validity["not_after"].native
    out["signer_cert_valid_at_signing"] = nb <= at <= na
    if not out["signer_cert_valid_at_signing"]:
        out["warnings"].append(f"signed at {at.isoformat()}, outside the signer "
                               f"certificate's validity {nb.isoformat()} .. {na.isoformat()}")


def finish(out: dict, anchors, require_ts) -> dict:
    t = out["timestamp"]
    out["ok"] = (
        not out["errors"]
        and out["references_ok"] and out["coverage_ok"] and out["data_hash_ok"]
        and out["signature_ok"] is True and out["seal_maker_signature_ok"] is True
        and out["signer_in_cert_list"] is True and out["seal_file_matches"] is not False
        and (not anchors or out["chain_ok"] is True)
        and (t is None or timestamp_ok(t, bool(anchors)))
        and (not require_ts or t is not None)
    )
    if require_ts and t is None:
        out["errors"].append("no time-stamp (--require-timestamp)")
    # The verdicts first, in a stable order; details after.
    first = {k: out[k] for k in VERDICTS if k in out}
    return first | {k: v for k, v in out.items() if k not in VERDICTS}


VERDICTS = ("id", "type", "ok", "signature_xml", "references_ok", "bad_references", "uncovered",
            "coverage_ok", "data_hash_ok", "signature_ok", "seal_maker_signature_ok",
            "signer_in_cert_list", "seal_file_matches", "seal_valid_at_signing",
            "signer_cert_valid_at_signing", "chain_ok", "timestamp", "errors", "warnings")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ofd")
    ap.add_argument("--ca", action="append", default=[], metavar="CA.pem",
                    help="trusted SM2 certificate(s), PEM or DER; repeatable")
    ap.add_argument("--require-timestamp", action="store_true")
    ap.add_argument("--openssl-sm3", action="store_true",
                    help="hash files with OpenSSL's SM3 (fast) instead of gmssl's (about 50 KB/s)")
    args = ap.parse_args()
    if args.openssl_sm3:
        use_openssl_sm3()
    try:
        anchors = [load_cert(d) for f in args.ca for d in load_cert_ders(f)]
    except (OSError, ValueError) as e:
        print(f"--ca: {e}", file=sys.stderr)
        return 2
    try:
        pkg = Package(args.ofd)
        lists = signature_lists(pkg)
    except (Unreadable, ValueError) as e:
        print(f"unreadable input: {e}", file=sys.stderr)
        return 2
    results = []
    for _, entries in lists:
        for i, entry in enumerate(entries):
            try:
                results.append(verify_signature(pkg, lists, entry, entries[i + 1:], anchors,
                                                args.require_timestamp))
            except Exception as e:  # one malformed signature must not hide the others' results
                results.append({"id": entry["id"], "signature_xml": entry["signature_xml"],
                                "ok": False, "errors": [f"{type(e).__name__}: {e}"]})
    print(json.dumps(results, ensure_ascii=False, indent=2))
    if not results:
        print("no signatures", file=sys.stderr)
        return 2
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
