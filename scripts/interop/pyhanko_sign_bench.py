#!/usr/bin/env python3
"""Baseline for the stamping benchmark: pyHanko signing the same PDF in-process (PAdES B-B,
ECDSA P-256 with SHA-256, no time-stamp), N times; prints the median seconds per signature.
usage: pyhanko_sign_bench.py KEY.pem CERT.pem IN.pdf N"""
import io
import statistics
import sys
import time

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

key, cert, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
signer = signers.SimpleSigner.load(key, cert)
data = open(path, "rb").read()
meta = signers.PdfSignatureMetadata(field_name="Bench", subfilter=SigSeedSubFilter.PADES)
times = []
for _ in range(n):
    t = time.perf_counter()
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer)
    out.getvalue()
    times.append(time.perf_counter() - t)
print(f"{statistics.median(times):.6f}")
