#!/usr/bin/env python3
"""Independent c2sp.org/tlog-witness client: drives a witness's add-checkpoint endpoint through
every case of the specification and checks each answer.

Written from the C2SP texts (tlog-witness, tlog-cosignature, signed-note, tlog-checkpoint) and
RFC 6962 §2.1 only, with the Python standard library and `cryptography` (Ed25519). It shares no
code with trustd or with aics-tlog / aics-witness, so it is a third implementation.

The client plays a log: it builds its own RFC 6962 Merkle tree over the leaves b"leaf 0",
b"leaf 1", ..., signs checkpoints with the Ed25519 key from --seed-hex (key name = origin), and
POSTs add-checkpoint requests. The witness must be FRESH (it never cosigned for this origin) and
must trust the log key printed by `print-vkey`. Cases, in this order:

  (a) old 0, size 5                              -> 200, a valid, current Ed25519 cosignature
  (b) old 0, size 8                              -> 409, Content-Type text/x.tlog.size, "5\\n"
  (c) old 5, size 8, correct consistency proof   -> 200, a valid cosignature
  (d) old 8, size 8, same root, empty proof      -> 200, a valid cosignature
  (e) old 8, size 12, proof and root of another tree (other leaves)  -> 422
  (f) old 8, size 8, another root                -> 422
  (g) old 9, size 8                              -> 400
  (h) malformed body ("old x")                   -> 400
  (i) checkpoint of an unknown origin            -> 404
  (j) checkpoint signed only by another key under the log's name     -> 403
  (k) the log's own key name and ID with a corrupted signature       -> 403
  (l) old 8, size 12, correct proof              -> 200 (the refusals changed nothing)

Every refusal must carry no cosignature. The refused requests of (h)-(k) are otherwise valid
(old 8 -> size 12 with a correct proof), so a witness that wrongly accepted one would also move
its state to 12 and fail (l) with a 409.

A cosignature is verified as tlog-cosignature's Ed25519 type: the response line whose key name
and key ID match --witness-vkey (name+hexid+base64(0x04 || pubkey), key ID =
SHA-256(name || "\\n" || 0x04 || pubkey)[:4]) carries keyid(4) || timestamp(8, big-endian) ||
signature(64) over "cosignature/v1\\ntime <ts>\\n" || checkpoint note text; the timestamp must be
non-zero, at most 2^63-1 and within 5 minutes of this machine's clock.

Usage:
  witness_client.py print-vkey --seed-hex HEX64 --origin ORIGIN
  witness_client.py run --url WITNESS_URL --witness-vkey VKEY --seed-hex HEX64 --origin ORIGIN

Exit status 0 when every case passes; otherwise 1 with "FAIL: ..." on stderr (2 for bad usage).
One "PASS: ..." line is printed per case.
"""

import argparse
import base64
import binascii
import hashlib
import http.client
import sys
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

EM_DASH = "\u2014"
SIG_TYPE_ED25519 = 0x01  # signed-note Ed25519 signatures
SIG_TYPE_COSIGNATURE = 0x04  # tlog-cosignature Ed25519 (cosignature/v1)
MAX_CLOCK_SKEW = 300  # seconds, for cosignature timestamps


def usage_error(msg):
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(2)


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text):
    """RFC 4648 §4 base64 with padding; refuses anything that does not re-encode identically."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"invalid base64 {text!r}") from None
    if b64(raw) != text:
        raise ValueError(f"non-canonical base64 {text!r}")
    return raw


# --- RFC 6962 §2.1 Merkle tree (SHA-256) --------------------------------------------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n):
    """k = the largest power of two with k < n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes):
    """MTH(D[n]) over a list of leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = largest_power_of_two_below(n)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def consistency_proof(m, hashes):
    """PROOF(m, D[n]) of RFC 6962 §2.1.2, for 0 < m <= n = len(hashes)."""

    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    if not 0 < m <= len(hashes):
        raise ValueError("consistency proof needs 0 < m <= n")
    return subproof(m, hashes, True)


class Tree:
    def __init__(self, fmt, n):
        self.hashes = [leaf_hash(fmt % i) for i in range(n)]

    def root(self, size):
        return mth(self.hashes[:size])

    def proof(self, old, size):
        return [] if old == 0 else consistency_proof(old, self.hashes[:size])


# --- signed notes and keys ------------------------------------------------------------------------


def key_id(name, sig_type, public_key):
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def log_key_from_seed(seed_hex):
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        usage_error("--seed-hex must be 64 hex characters (a 32-byte Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def raw_public(private_key):
    return private_key.public_key().public_bytes_raw()


def note_vkey(name, private_key):
    pub = raw_public(private_key)
    return f"{name}+{key_id(name, SIG_TYPE_ED25519, pub).hex()}+{b64(bytes([SIG_TYPE_ED25519]) + pub)}"


def parse_witness_vkey(text):
    """name+hexid+base64(0x04 || 32-byte Ed25519 key) -> (name, key id, public key)."""
    name, sep, rest = text.strip().partition("+")
    hex_id, sep2, key_b64 = rest.partition("+")
    if not (sep and sep2 and name and len(hex_id) == 8):
        usage_error(f"witness vkey {text!r} is not name+hexid+base64key")
    try:
        kid = bytes.fromhex(hex_id)
        material = b64decode_strict(key_b64)
    except ValueError as e:
        usage_error(f"witness vkey: {e}")
    if len(material) != 33 or material[0] != SIG_TYPE_COSIGNATURE:
        usage_error("witness vkey is not an Ed25519 cosignature key (type 0x04, 32 bytes)")
    pub = material[1:]
    if key_id(name, SIG_TYPE_COSIGNATURE, pub) != kid:
        usage_error(f"witness vkey ID {hex_id} does not match SHA-256(name || \\n || 0x04 || key)[:4]")
    return name, kid, pub


def checkpoint_text(origin, size, root):
    return f"{origin}\n{size}\n{b64(root)}\n"


def signature_line(name, kid, sig):
    return f"{EM_DASH} {name} {b64(kid + sig)}\n"


def signed_checkpoint(text, name, private_key, corrupt=False):
    """The note: text, blank line, one Ed25519 signature line (key name `name`)."""
    sig = private_key.sign(text.encode("utf-8"))
    if corrupt:
        sig = bytes([sig[0] ^ 0x01]) + sig[1:]
    kid = key_id(name, SIG_TYPE_ED25519, raw_public(private_key))
    return text + "\n" + signature_line(name, kid, sig)


def request_body(old, proof, note):
    return f"old {old}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + note


# --- HTTP -----------------------------------------------------------------------------------------


class Witness:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.netloc:
            usage_error(f"--url must be an http(s) URL, got {url!r}")
        self.scheme, self.netloc = u.scheme, u.netloc
        self.path = u.path.rstrip("/") + "/add-checkpoint"
        self.url = f"{u.scheme}://{u.netloc}{self.path}"

    def add_checkpoint(self, body):
        """POST the body; returns (status, content type, response body bytes)."""
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.netloc, timeout=30)
        try:
            conn.request("POST", self.path, body=body.encode("utf-8"),
                         headers={"Content-Length": str(len(body.encode("utf-8")))})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        except OSError as e:
            fail(f"POST {self.url}: {e}")
        finally:
            conn.close()


def show(body):
    text = body.decode("utf-8", "replace")
    return repr(text if len(text) <= 300 else text[:300] + "...")


# --- cosignature verification ----------------------------------------------------------------------


def parse_signature_lines(body):
    """A 200 body: one or more lines "— <name> <base64>\\n". Returns [(name, blob)]."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"the 200 response body is not UTF-8: {show(body)}")
    if not text or not text.endswith("\n"):
        fail(f"the 200 response body must be newline-terminated signature lines, got {show(body)}")
    out = []
    for line in text[:-1].split("\n"):
        prefix = EM_DASH + " "
        name, sep, sig_b64 = line[len(prefix):].partition(" ")
        if not line.startswith(prefix) or not sep or not name or not sig_b64 or " " in sig_b64:
            fail(f"malformed signature line {line!r} in the 200 response {show(body)}")
        try:
            blob = b64decode_strict(sig_b64)
        except ValueError as e:
            fail(f"signature line {line!r}: {e}")
        if len(blob) < 4:
            fail(f"signature line {line!r} is shorter than its 4-byte key ID")
        out.append((name, blob))
    return out


def verify_cosignature_response(body, witness, cp_text):
    """Find the witness's line(s) in a 200 body and verify each; returns the timestamp."""
    wname, wkid, wpub = witness
    lines = parse_signature_lines(body)
    mine = [blob for name, blob in lines if name == wname and blob[:4] == wkid]
    if not mine:
        listed = ", ".join(f"{n} {b[:4].hex()}" for n, b in lines)
        fail(f"no cosignature from {wname} {wkid.hex()} in the response (lines from: {listed})")
    key = Ed25519PublicKey.from_public_bytes(wpub)
    now = int(time.time())
    ts = None
    for blob in mine:
        if len(blob) != 4 + 8 + 64:
            fail(f"cosignature from {wname} is {len(blob)} bytes, expected 4 + 8 + 64")
        ts = int.from_bytes(blob[4:12], "big")
        if ts == 0:
            fail("cosignature timestamp is zero (tlog-witness: MUST NOT omit the timestamp)")
        if ts > 2**63 - 1:
            fail(f"cosignature timestamp {ts} exceeds 2^63 - 1")
        if abs(ts - now) > MAX_CLOCK_SKEW:
            fail(f"cosignature timestamp {ts} is {ts - now:+d} s from now ({now}); allowed ±{MAX_CLOCK_SKEW} s")
        message = f"cosignature/v1\ntime {ts}\n".encode("ascii") + cp_text.encode("utf-8")
        try:
            key.verify(blob[12:], message)
        except InvalidSignature:
            fail(f"cosignature from {wname} does not verify over cosignature/v1, time {ts} and the checkpoint")
    return ts


# --- the cases --------------------------------------------------------------------------------------


def run(args):
    origin = args.origin
    log_key = log_key_from_seed(args.seed_hex)
    witness = parse_witness_vkey(args.witness_vkey)
    w = Witness(args.url)
    tree = Tree(b"leaf %d", 12)
    other = Tree(b"other leaf %d", 12)

    def checkpoint(size, root=None, origin_=origin, key=log_key, corrupt=False):
        text = checkpoint_text(origin_, size, tree.root(size) if root is None else root)
        return text, signed_checkpoint(text, origin_, key, corrupt)

    def expect_cosigned(label, old, size, proof, root=None):
        text, note = checkpoint(size, root)
        status, ctype, body = w.add_checkpoint(request_body(old, proof, note))
        if status == 409 and old == 0 and size == 5:
            fail(f"({label}) 409 {show(body)}: the witness already has a checkpoint for {origin}; "
                 "run against a fresh witness")
        if status != 200:
            fail(f"({label}) old {old} size {size}: expected 200, got {status} {show(body)}")
        ts = verify_cosignature_response(body, witness, text)
        return ts

    def expect_refused(label, want, body_text, what):
        status, ctype, body = w.add_checkpoint(body_text)
        if status != want:
            fail(f"({label}) {what}: expected {want}, got {status} {show(body)}")
        if EM_DASH.encode("utf-8") in body:
            fail(f"({label}) {what}: the {status} response carries a signature line: {show(body)}")
        return ctype, body

    # (a) first checkpoint, no proof
    ts = expect_cosigned("a", 0, 5, [])
    print(f"PASS: (a) old 0 -> size 5: 200, Ed25519 cosignature from {witness[0]} verifies (time {ts})")

    # (b) old 0 again: the witness's latest size is 5
    ctype, body = expect_refused("b", 409, request_body(0, [], checkpoint(8)[1]), "old 0 size 8 after size 5")
    media_type = ctype.split(";")[0].strip().lower()
    if media_type != "text/x.tlog.size":
        fail(f"(b) 409 Content-Type is {ctype!r}, expected text/x.tlog.size")
    if body != b"5\n":
        fail(f"(b) 409 body is {show(body)}, expected '5\\n'")
    print(f"PASS: (b) old 0 -> size 8 after 5: 409, Content-Type {ctype}, body '5\\n'")

    # (c) a correct consistency proof 5 -> 8
    proof = tree.proof(5, 8)
    ts = expect_cosigned("c", 5, 8, proof)
    print(f"PASS: (c) old 5 -> size 8 with a {len(proof)}-hash consistency proof: 200, cosignature verifies (time {ts})")

    # (d) the same checkpoint again, empty proof
    ts = expect_cosigned("d", 8, 8, [])
    print(f"PASS: (d) old 8 -> size 8, same root, empty proof: 200, cosignature verifies (time {ts})")

    # The request the witness must accept at the end; (h)-(k) reuse it with one thing wrong.
    good_proof = tree.proof(8, 12)
    cp12_text, cp12 = checkpoint(12)

    # (e) a proof and root from another tree (its own proof verifies against its own old root,
    # but not against the size-8 root the witness cosigned)
    other_note = checkpoint(12, root=other.root(12))[1]
    expect_refused("e", 422, request_body(8, other.proof(8, 12), other_note),
                   "old 8 size 12 with another tree's proof and root")
    print("PASS: (e) old 8 -> size 12, proof and root of a different tree: 422, no cosignature")

    # (f) same size, different root
    forked_root = other.root(8)
    expect_refused("f", 422, request_body(8, [], checkpoint(8, root=forked_root)[1]),
                   "old 8 size 8 with another root")
    print("PASS: (f) old 8 -> size 8 with a different root: 422, no cosignature")

    # (g) old size above the checkpoint size
    expect_refused("g", 400, request_body(9, [], checkpoint(8)[1]), "old 9 size 8")
    print("PASS: (g) old 9 -> size 8: 400, no cosignature")

    # (h) malformed old size line (the rest is a valid request)
    expect_refused("h", 400, "old x\n" + "".join(b64(h) + "\n" for h in good_proof) + "\n" + cp12,
                   "malformed old size line 'old x'")
    print("PASS: (h) malformed body ('old x'): 400, no cosignature")

    # (i) unknown origin: same key, key name = the unknown origin
    unknown = origin + "-unknown"
    unknown_note = signed_checkpoint(checkpoint_text(unknown, 12, tree.root(12)), unknown, log_key)
    expect_refused("i", 404, request_body(8, good_proof, unknown_note), f"origin {unknown!r}")
    print(f"PASS: (i) checkpoint of unknown origin {unknown}: 404, no cosignature")

    # (j) the log's name, another key (so another key ID): no trusted signature
    other_key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"not the log key").digest())
    expect_refused("j", 403, request_body(8, good_proof, signed_checkpoint(cp12_text, origin, other_key)),
                   "checkpoint signed by another key under the log's name")
    print("PASS: (j) checkpoint signed only by another key under the log's name: 403, no cosignature")

    # (k) the log's name and key ID, a signature that does not verify
    expect_refused("k", 403, request_body(8, good_proof, signed_checkpoint(cp12_text, origin, log_key, corrupt=True)),
                   "the log's key ID with a corrupted signature")
    print("PASS: (k) the log's key name and ID with a corrupted signature: 403, no cosignature")

    # (l) nothing above moved the witness: old 8 -> 12 is accepted
    ts = expect_cosigned("l", 8, 12, good_proof)
    print(f"PASS: (l) old 8 -> size 12 with a {len(good_proof)}-hash proof after the refusals: 200, "
          f"cosignature verifies (time {ts})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pv = sub.add_parser("print-vkey", help="print the log's note verifier key")
    pv.add_argument("--seed-hex", required=True)
    pv.add_argument("--origin", required=True)
    pr = sub.add_parser("run", help="run the add-checkpoint cases against a fresh witness")
    pr.add_argument("--url", required=True, help="witness submission prefix, e.g. http://127.0.0.1:7380")
    pr.add_argument("--witness-vkey", required=True)
    pr.add_argument("--seed-hex", required=True)
    pr.add_argument("--origin", required=True)
    args = p.parse_args()
    if any(c.isspace() or c == "+" for c in args.origin) or not args.origin:
        usage_error("--origin must be non-empty without spaces or '+' (it is also the key name)")
    if args.cmd == "print-vkey":
        print(note_vkey(args.origin, log_key_from_seed(args.seed_hex)))
        return 0
    try:
        run(args)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
