#!/usr/bin/env python3
"""Independent check of trustd's SD-JWT licences (RFC 9901) with the reference implementation,
the `sd-jwt` package (openwallet-foundation-labs/sd-jwt-python), not trustd's code.

Trusts only ROOT_PEM: the issuer key is x5c[0] of the SD-JWT's header once
`openssl verify -CAfile ROOT_PEM -untrusted x5c[1] x5c[0]` accepts the chain.

  verify_sd_jwt.py verify ROOT_PEM SD_JWT_FILE EXPECTED_JSON
      SDJWTVerifier checks the signature and the disclosures; the claims it recovers under
      `licence` must be exactly EXPECTED_JSON ({"holder.name": "…", "face.address": "…"}): the
      disclosed ones present with their values, every other personal claim absent.
  verify_sd_jwt.py present SD_JWT_FILE CLAIM...
      SDJWTHolder makes a presentation of the holder's full SD-JWT disclosing only CLAIMs
      (holder.code, face.address, …); prints it (for trustd to verify).
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

from jwcrypto import jwk
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

# The personal claims trustd conceals: the holder's name and code and every face field.
PERSONAL = ("holder.name", "holder.code")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pem(der):
    body = base64.encodebytes(der).decode().replace("\n", "")
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(
        body[i:i + 64] for i in range(0, len(body), 64)) + "\n-----END CERTIFICATE-----\n"


def issuer_key(root_pem, header):
    """The x5c[0] key, after openssl has checked x5c against the root."""
    x5c = header.get("x5c") or []
    if len(x5c) != 2:
        fail("x5c is not [signer, department CA]")
    ders = [base64.b64decode(c, validate=True) for c in x5c]
    with tempfile.TemporaryDirectory() as d:
        signer, dept = os.path.join(d, "signer.pem"), os.path.join(d, "dept.pem")
        open(signer, "w").write(pem(ders[0]))
        open(dept, "w").write(pem(ders[1]))
        r = subprocess.run(["openssl", "verify", "-CAfile", root_pem, "-untrusted", dept, signer],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("openssl verify of x5c: " + r.stdout + r.stderr)
        return jwk.JWK.from_pem(open(signer, "rb").read())


def flatten(licence):
    """{"holder.name": …, "face.address": …} for the personal claims present."""
    out = {}
    for k in PERSONAL:
        obj, key = k.split(".")
        if key in licence.get(obj, {}):
            out[k] = licence[obj][key]
    for key, value in licence.get("face", {}).items():
        out["face." + key] = value
    return out


def verify(root_pem, sd_jwt_file, expected_json):
    presentation = open(sd_jwt_file).read().strip()
    expected = json.loads(expected_json)
    header = json.loads(b64url_decode(presentation.split("~")[0].split(".")[0]))
    if header.get("typ") != "licence+sd-jwt" or header.get("alg") != "ES256":
        fail("header: %r" % header)
    key = issuer_key(root_pem, header)
    verifier = SDJWTVerifier(presentation, lambda iss, hdr: key)
    payload = verifier.get_verified_payload()
    got = flatten(payload["licence"])
    if got != expected:
        fail("recovered claims %r, expected %r" % (got, expected))
    if "_sd" in json.dumps(payload) or "_sd_alg" in payload:
        fail("digests left in the verified payload")
    print(json.dumps(payload, ensure_ascii=False))


def present(sd_jwt_file, claims):
    issuance = open(sd_jwt_file).read().strip()
    holder = SDJWTHolder(issuance)
    select = {}
    for c in claims:
        obj, key = c.split(".")
        select.setdefault("licence", {}).setdefault(obj, {})[key] = True
    holder.create_presentation(select)
    print(holder.sd_jwt_presentation)


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "verify":
        verify(*sys.argv[2:5])
    elif len(sys.argv) >= 4 and sys.argv[1] == "present":
        present(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
