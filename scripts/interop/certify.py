"""Certifies a PDF with pyHanko (a DocMDP certification signature, ISO 32000 §12.8.2.2).

usage: certify.py IN OUT KEY CERT CA {nochanges|fill_forms|annotate}
"""
import sys

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

src, dst, key, cert, ca, perms = sys.argv[1:7]
perm = {
    "nochanges": fields.MDPPerm.NO_CHANGES,
    "fill_forms": fields.MDPPerm.FILL_FORMS,
    "annotate": fields.MDPPerm.ANNOTATE,
}[perms]
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(ca,))
with open(src, "rb") as f:
    writer = IncrementalPdfFileWriter(f)
    meta = signers.PdfSignatureMetadata(
        field_name="Certification", certify=True, docmdp_permissions=perm
    )
    with open(dst, "wb") as out:
        signers.sign_pdf(writer, meta, signer=signer, output=out)
