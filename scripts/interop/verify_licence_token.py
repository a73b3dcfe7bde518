#!/usr/bin/env python3
"""Independent check of a trustd licence token (not trustd's code), with the `jwcrypto` package.

Trusts only ROOT_PEM: writes the token's x5c[0] (signer) and x5c[1] (department CA) as PEM in
OUT_DIR, checks the chain with `openssl verify -CAfile ROOT_PEM -untrusted dept.pem signer.pem`,
loads the signer's key with jwk.JWK.from_pem and verifies the compact JWS (ES256) with
jws.JWS().deserialize + verify. Then checks that the payload's jti is IDENTIFIER, and that a
copy of the token with an altered payload does not verify.

usage: verify_licence_token.py TOKEN_FILE ROOT_PEM OUT_DIR IDENTIFIER
Prints the verified payload (JSON) on stdout."""
import base64
import json
import os
import subprocess
import sys

from jwcrypto import jwk, jws


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pem(der):
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    token_file, root_pem, out_dir, identifier = sys.argv[1:]
    with open(token_file) as f:
        token = f.read().strip()
    parts = token.split(".")
    if len(parts) != 3:
        fail("token is not a compact JWS (%d parts)" % len(parts))
    header = json.loads(b64url_decode(parts[0]))
    if header.get("alg") != "ES256":
        fail("alg is %r, not ES256" % header.get("alg"))
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or len(x5c) != 2:
        fail("x5c is not [signer, department CA]: %r" % (x5c,))
    # RFC 7515 §4.1.6: x5c entries are standard base64 (not base64url) of the DER.
    try:
        ders = [base64.b64decode(c, validate=True) for c in x5c]
    except Exception as e:  # binascii.Error
        fail("x5c entry is not standard base64: %s" % e)
    signer_pem = os.path.join(out_dir, "signer.pem")
    dept_pem = os.path.join(out_dir, "x5c-dept.pem")
    with open(signer_pem, "w") as f:
        f.write(pem(ders[0]))
    with open(dept_pem, "w") as f:
        f.write(pem(ders[1]))

    r = subprocess.run(["openssl", "verify", "-CAfile", root_pem, "-untrusted", dept_pem, signer_pem],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("openssl verify of the x5c chain: " + r.stdout + r.stderr)

    with open(signer_pem, "rb") as f:
        key = jwk.JWK.from_pem(f.read())
    if key.get("kty") != "EC" or key.get("crv") != "P-256":
        fail("signer key is %s/%s, not EC P-256" % (key.get("kty"), key.get("crv")))

    sig = jws.JWS()
    sig.deserialize(token)
    try:
        sig.verify(key, alg="ES256")
    except jws.InvalidJWSSignature as e:
        fail("jwcrypto: signature does not verify: %s" % e)
    payload = json.loads(sig.payload)
    if payload.get("jti") != identifier:
        fail("jti %r is not the identifier %r" % (payload.get("jti"), identifier))

    # The check must be able to fail: alter one claim and re-encode the payload.
    forged = dict(payload, jti=identifier[:-1] + ("X" if identifier[-1] != "X" else "Y"))
    forged_b64 = base64.urlsafe_b64encode(
        json.dumps(forged, separators=(",", ":")).encode()).decode().rstrip("=")
    bad = jws.JWS()
    bad.deserialize(parts[0] + "." + forged_b64 + "." + parts[2])
    try:
        bad.verify(key, alg="ES256")
        fail("jwcrypto accepted a token with an altered payload")
    except jws.InvalidJWSSignature:
        pass

    print(json.dumps(payload, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
