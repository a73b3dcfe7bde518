#!/usr/bin/env python3
"""Check trustd's transparency log with aics-tlog, a C2SP implementation we did not write.

What is checked (each group prints one "PASS: ..." line):

  (a) checkpoint  GET <url>/log/checkpoint is a signed note that aics-tlog's verify_checkpoint
                  accepts: a valid Ed25519 signature from --log-vkey and at least --quorum valid
                  cosignature/v1 cosignatures from the --witness-vkey keys.
  (b) tiles       the root recomputed from the public hash tiles under <url>/log/tile/ with
                  tree_root_from_tiles equals the checkpoint's root; VerifiedTileReader
                  authenticates the right edge against it and audit_tiles (entries=False)
                  authenticates every hash tile of the tree against it.
  (c) proof       the --proof file (c2sp.org/tlog-proof@v1, parsed here from the spec text):
                  its checkpoint passes verify_checkpoint (same keys and quorum) and has the
                  served checkpoint's origin; the RFC 6962 leaf hash of the `extra` bytes is
                  included at `index` under its root (verify_inclusion); its size is at most the
                  served size; the proof equals the one inclusion_proof_from_tiles computes from
                  the authenticated tiles; and the served checkpoint is consistent with it
                  (consistency_proof_from_tiles + verify_consistency).
  (d) entry       `extra` is a JSON log entry with type "licence.issued" and data.token_sha256 =
                  hex SHA-256 of --token-file's content with surrounding whitespace stripped.
  (e) PDF         with --pdf-proof and --pdf: (c) for that proof, and its entry has type
                  "document.stamped" and data.output_sha256 = hex SHA-256 of the PDF's bytes.

Entry bundles (/log/tile/entries/...) need an auditor key, so only hash tiles are read. HTTP
goes through aics-tlog's HttpTileReader (no redirects, Cache-Control: no-cache on the checkpoint)
and ignores proxy environment variables (trustd is expected on a local address).

Usage:
  check_tlog.py --url TRUSTD_URL --log-vkey VKEY --witness-vkey V1 --witness-vkey V2 --quorum 2 \\
      --proof FILE --token-file FILE [--pdf-proof FILE --pdf FILE]

Exit status 0 when everything passes; 1 with "FAIL: ..." on stderr otherwise; 2 for bad usage.
Needs aics-tlog (tested with 0.2.1).
"""

import argparse
import base64
import binascii
import hashlib
import json
import sys

from aics_tlog import (
    HttpTileReader,
    TileMissingError,
    TileUnavailableError,
    TileVerificationError,
    VerifiedTileReader,
    audit_tiles,
    consistency_proof_from_tiles,
    inclusion_proof_from_tiles,
    leaf_hash,
    parse_note,
    parse_vkey,
    tree_root_from_tiles,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
TILE_ERRORS = (TileMissingError, TileUnavailableError, TileVerificationError, ValueError, OSError)


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text, what):
    """RFC 4648 §4 base64 with padding; refuses anything that does not re-encode identically."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fail(f"{what}: invalid base64 {text[:60]!r}")
    if b64(raw) != text:
        fail(f"{what}: non-canonical base64 {text[:60]!r}")
    return raw


def parse_decimal(text, what):
    if not text.isascii() or not text.isdigit() or str(int(text)) != text:
        fail(f"{what}: {text!r} is not an ASCII decimal without leading zeroes")
    return int(text)


# --- c2sp.org/tlog-proof@v1 -----------------------------------------------------------------------


def parse_tlog_proof(data, what):
    """Returns (extra bytes or None, index, [hashes], checkpoint note text).

    Lines: "c2sp.org/tlog-proof@v1"; optionally "extra <base64>"; "index <n>"; zero or more
    base64 SHA-256 hashes; an empty line; then the checkpoint, verbatim, to the end."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{what}: not UTF-8")
    lines = text.split("\n")
    if lines[0] != PROOF_HEADER:
        fail(f"{what}: the first line is {lines[0][:60]!r}, expected {PROOF_HEADER!r}")
    i = 1
    extra = None
    if len(lines) > i and lines[i].startswith("extra "):
        extra = b64decode_strict(lines[i][len("extra "):], f"{what}: extra line")
        i += 1
    if len(lines) <= i or not lines[i].startswith("index "):
        fail(f"{what}: line {i + 1} must be 'index <n>'")
    index = parse_decimal(lines[i][len("index "):], f"{what}: index")
    i += 1
    hashes = []
    while i < len(lines) and lines[i] != "":
        h = b64decode_strict(lines[i], f"{what}: proof line {i + 1}")
        if len(h) != 32:
            fail(f"{what}: proof line {i + 1} is {len(h)} bytes, not a SHA-256 hash")
        hashes.append(h)
        i += 1
    if i >= len(lines):
        fail(f"{what}: no empty line before the checkpoint")
    checkpoint = "\n".join(lines[i + 1:])
    if not checkpoint:
        fail(f"{what}: no checkpoint after the empty line")
    return extra, index, hashes, checkpoint


# --- checks ---------------------------------------------------------------------------------------


def check_checkpoint_note(note_data, keys, what):
    """verify_checkpoint with the log key, witness keys and quorum; returns (note, result)."""
    log_key, witnesses, quorum = keys
    try:
        note = parse_note(note_data)
    except ValueError as e:
        fail(f"{what}: not a signed note: {e}")
    res = verify_checkpoint(note, log_key, witnesses, quorum)
    if not res.ok:
        fail(f"{what}: aics-tlog verify_checkpoint refused it: {res.error}")
    return note, res


def describe(res):
    return (f"size {res.size}, log signature ok, {res.cosignature_count} valid cosignature(s) "
            f"({', '.join(res.witnesses) or 'none'}) for quorum {res.quorum}")


def check_served_checkpoint(reader, keys):
    try:
        data = reader.read_checkpoint()
    except TileUnavailableError as e:
        fail(f"(a) GET {reader.base_urls[0]}checkpoint failed: {e}")
    _, res = check_checkpoint_note(data, keys, f"(a) {reader.base_urls[0]}checkpoint")
    print(f"PASS: (a) served checkpoint {res.origin}: {describe(res)}")
    return res


def check_tiles(reader, served):
    size, root = served.size, served.root
    try:
        from_tiles = tree_root_from_tiles(reader, size)
    except TILE_ERRORS as e:
        fail(f"(b) tree_root_from_tiles at size {size}: {type(e).__name__}: {e}")
    if from_tiles != root:
        fail(f"(b) the root computed from the tiles at size {size} is {b64(from_tiles)}, "
             f"the checkpoint's is {b64(root)}")
    try:
        VerifiedTileReader(reader, size, root).check_root()
        report = audit_tiles(reader, size, root, entries=False)
    except TILE_ERRORS as e:
        fail(f"(b) tiles do not authenticate against the checkpoint of size {size}: {type(e).__name__}: {e}")
    print(f"PASS: (b) root from the hash tiles = checkpoint root {b64(root)} at size {size}; "
          f"all {report.tiles} hash tile(s) authenticate (VerifiedTileReader, audit_tiles)")


def check_proof_file(label, path, reader, served, keys):
    """(c) for one tlog-proof file; returns the entry (parsed JSON of `extra`)."""
    what = f"({label}) {path}"
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        fail(f"{what}: {e}")
    extra, index, hashes, cp_text = parse_tlog_proof(data, what)
    _, res = check_checkpoint_note(cp_text, keys, f"{what}: checkpoint")
    if res.origin != served.origin:
        fail(f"{what}: checkpoint origin {res.origin!r} is not the served log's {served.origin!r}")
    if extra is None:
        fail(f"{what}: no 'extra' line, so the leaf (the log entry) cannot be rebuilt")
    lh = leaf_hash(extra)
    if not verify_inclusion(lh, index, res.size, hashes, res.root):
        fail(f"{what}: verify_inclusion refused leaf hash {b64(lh)} at index {index} "
             f"with {len(hashes)} hash(es) under root {b64(res.root)} of size {res.size}")

    if res.size > served.size:
        fail(f"{what}: the proof's checkpoint has size {res.size}, more than the served {served.size}")
    vr = VerifiedTileReader(reader, served.size, served.root)
    try:
        from_tiles = inclusion_proof_from_tiles(vr, index, res.size, tile_size=served.size)
    except TILE_ERRORS as e:
        fail(f"{what}: inclusion_proof_from_tiles({index}, {res.size}): {type(e).__name__}: {e}")
    if from_tiles != hashes:
        fail(f"{what}: the inclusion proof differs from the one computed from the tiles:\n"
             f"  file:  {[b64(h) for h in hashes]}\n  tiles: {[b64(h) for h in from_tiles]}")
    try:
        cproof = consistency_proof_from_tiles(vr, res.size, served.size)
    except TILE_ERRORS as e:
        fail(f"{what}: consistency_proof_from_tiles({res.size}, {served.size}): {type(e).__name__}: {e}")
    if not verify_consistency(res.size, served.size, res.root, served.root, cproof):
        fail(f"{what}: the proof's checkpoint (size {res.size}, root {b64(res.root)}) is not consistent "
             f"with the served one (size {served.size}, root {b64(served.root)})")
    how = "same tree" if res.size == served.size else f"{len(cproof)}-hash consistency proof from tiles"
    print(f"PASS: ({label}) {path}: checkpoint {describe(res)}; leaf {index} included "
          f"({len(hashes)} hashes, equal to the proof from the tiles); consistent with the served "
          f"size {served.size} ({how})")
    try:
        entry = json.loads(extra.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        fail(f"{what}: extra is not a JSON log entry: {e}")
    if not isinstance(entry, dict):
        fail(f"{what}: extra is JSON but not an object")
    return entry


def check_entry(label, path, entry, want_type, field, digest, digest_of):
    what = f"({label}) {path}"
    if entry.get("type") != want_type:
        fail(f"{what}: entry type is {entry.get('type')!r}, expected {want_type!r}")
    data = entry.get("data")
    if not isinstance(data, dict):
        fail(f"{what}: entry has no 'data' object")
    if data.get(field) != digest:
        fail(f"{what}: data.{field} is {data.get(field)!r}, SHA-256 of {digest_of} is {digest!r}")
    print(f"PASS: ({label}) entry type {want_type}, data.{field} = SHA-256 of {digest_of} ({digest})")


def sha256_file(path, strip):
    try:
        with open(path, "rb") as fh:
            content = fh.read()
    except OSError as e:
        fail(str(e))
    return hashlib.sha256(content.strip() if strip else content).hexdigest()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="trustd base URL; the log is served under <url>/log/")
    p.add_argument("--log-vkey", required=True, help="the log's note verifier key (type 0x01)")
    p.add_argument("--witness-vkey", action="append", default=[], help="a witness cosignature key (type 0x04); repeat")
    p.add_argument("--quorum", type=int, help="valid cosignatures required (default: all witnesses given)")
    p.add_argument("--proof", required=True, help="tlog-proof of the licence's issuance")
    p.add_argument("--token-file", required=True, help="the licence token (its SHA-256 is in the entry)")
    p.add_argument("--pdf-proof", help="tlog-proof of the document.stamped entry")
    p.add_argument("--pdf", help="the stamped PDF (its SHA-256 is in the entry)")
    args = p.parse_args()
    if (args.pdf_proof is None) != (args.pdf is None):
        p.error("--pdf-proof and --pdf go together")
    try:
        log_key = parse_vkey(args.log_vkey.strip())
        witnesses = [parse_vkey(v.strip()) for v in args.witness_vkey]
    except ValueError as e:
        p.error(f"bad vkey: {e}")
    quorum = len(witnesses) if args.quorum is None else args.quorum
    if not 0 <= quorum <= len(witnesses):
        p.error(f"--quorum {quorum} needs 0..{len(witnesses)} (the number of --witness-vkey)")
    keys = (log_key, witnesses, quorum)
    try:
        reader = HttpTileReader(args.url.rstrip("/") + "/log/", proxies={})
    except ValueError as e:
        p.error(str(e))

    try:
        served = check_served_checkpoint(reader, keys)
        check_tiles(reader, served)
        entry = check_proof_file("c", args.proof, reader, served, keys)
        check_entry("d", args.proof, entry, "licence.issued", "token_sha256",
                    sha256_file(args.token_file, strip=True), f"{args.token_file} (stripped)")
        if args.pdf_proof:
            entry = check_proof_file("e", args.pdf_proof, reader, served, keys)
            check_entry("e", args.pdf_proof, entry, "document.stamped", "output_sha256",
                        sha256_file(args.pdf, strip=False), args.pdf)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
