#!/usr/bin/env python3
"""Independent check of a trustd issuance log (not trustd's code): verifies the C2SP signed-note
checkpoint with the `cryptography` package's Ed25519, and RFC 9162 inclusion and consistency
proofs with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 written here from the RFC.

usage: verify_log.py BASE_URL AUDITOR_TOKEN [OLD_CHECKPOINT_FILE]
Prints the checkpoint text on stdout's last lines for a later consistency check."""
import base64
import hashlib
import json
import sys
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def get(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        return r.read()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_checkpoint(note, key):
    name, key_id, key_b64 = key.strip().split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 1, "not an Ed25519 note key"
    pub = raw[1:]
    expected_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]
    assert expected_id.hex() == key_id, "key id mismatch"
    body, sigs = note.split("\n\n", 1)
    body += "\n"
    for line in sigs.splitlines():
        assert line.startswith("\u2014 "), "bad signature line"
        sig_name, blob = line[2:].split(" ", 1)
        blob = base64.b64decode(blob)
        if sig_name == name and blob[:4] == expected_id:
            Ed25519PublicKey.from_public_bytes(pub).verify(blob[4:], body.encode())
            origin, size, root = body.splitlines()
            assert origin == name
            return int(size), base64.b64decode(root)
    raise AssertionError("no signature by the log key")


def verify_inclusion(index, size, leaf, proof, root):
    # RFC 9162 §2.1.3.2
    assert index < size
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        assert sn != 0, "proof too long"
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    assert sn == 0, "proof too short"
    assert r == root, "inclusion proof does not reach the root"


def verify_consistency(first, second, first_hash, second_hash, path):
    # RFC 9162 §2.1.4.2
    if first == second:
        assert not path and first_hash == second_hash
        return
    assert path, "empty consistency proof"
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        assert sn != 0, "proof too long"
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    assert sn == 0, "proof too short"
    assert fr == first_hash, "old root mismatch"
    assert sr == second_hash, "new root mismatch"


def main():
    base, token = sys.argv[1], sys.argv[2]
    old = open(sys.argv[3]).read() if len(sys.argv) > 3 else None
    key = get(base + "/api/v1/log/key").decode()
    note = get(base + "/api/v1/log/checkpoint").decode()
    size, root = verify_checkpoint(note, key)
    print(f"checkpoint signature OK: size {size}", file=sys.stderr)
    for index in sorted({0, size // 2, size - 1}):
        entry = json.loads(get(f"{base}/api/v1/log/entries?start={index}&end={index + 1}", token))["entries"][0]
        proof = json.loads(get(f"{base}/api/v1/log/proof/inclusion?index={index}&size={size}"))
        leaf = hashlib.sha256(b"\x00" + base64.b64decode(entry["entry"])).digest()
        assert base64.b64decode(proof["leaf_hash"]) == leaf, "served leaf hash differs from the entry"
        verify_inclusion(index, size, leaf, [base64.b64decode(h) for h in proof["hashes"]], root)
    print(f"inclusion proofs OK for entries 0, {size // 2}, {size - 1}", file=sys.stderr)
    if old:
        old_size, old_root = verify_checkpoint(old, key)
        proof = json.loads(get(f"{base}/api/v1/log/proof/consistency?from={old_size}&to={size}"))
        verify_consistency(old_size, size, old_root, root, [base64.b64decode(h) for h in proof["hashes"]])
        print(f"consistency proof OK: {old_size} -> {size}", file=sys.stderr)
    sys.stdout.write(note)


if __name__ == "__main__":
    main()
