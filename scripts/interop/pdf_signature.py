#!/usr/bin/env python3
"""Helpers for the interop checks of sealed PDFs (asn1crypto, not trustd's code).

  pdf_signature.py parts FILE.pdf OUTDIR   -> for the last signature, writes OUTDIR/cms.der
      (the /Contents CMS, without padding), OUTDIR/signed.bin (the two byte ranges
      concatenated), OUTDIR/tst.der (its signature time-stamp token, if any) and prints the
      hex SHA-256 of the signature value (what the time-stamp's message imprint covers)."""
import hashlib
import re
import sys

from asn1crypto import cms


def main():
    cmd, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    assert cmd == "parts"
    data = open(path, "rb").read()
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    a, b, c, d = map(int, ranges[-1])
    assert a == 0 and c + d == len(data), "ByteRange must cover the whole file"
    contents = bytes.fromhex(data[b + 1 : c - 1].decode())
    info = cms.ContentInfo.load(contents.rstrip(b"\x00") + b"\x00" * 0, strict=False)
    der = info.dump()
    open(f"{out}/cms.der", "wb").write(der)
    open(f"{out}/signed.bin", "wb").write(data[:b] + data[c:])
    signer = info["content"]["signer_infos"][0]
    sig = signer["signature"].native
    for attr in signer["unsigned_attrs"] or []:
        if attr["type"].native == "signature_time_stamp_token":
            open(f"{out}/tst.der", "wb").write(attr["values"][0].dump())
    print(hashlib.sha256(sig).hexdigest())


if __name__ == "__main__":
    main()
