#!/usr/bin/env python3
"""Renders page 1 of an OFD (GB/T 33190) file to a PNG with an independent renderer.

  render_ofd.py IN.ofd OUT.png [--dpi N] [--require-stamp]

Renderer: `easyofd` from PyPI, pinned to easyofd==20260427, with PyMuPDF==1.28.2 (easyofd draws
the OFD into a PDF with reportlab, and PyMuPDF rasterises that PDF's first page). Install line:

  pip install easyofd==20260427 PyMuPDF==1.28.2 reportlab==5.1.0 pillow==13.0.0 \
      pyasn1==0.6.5 xmltodict==1.0.4 fonttools==4.68.0 loguru==0.7.3 charset-normalizer==3.5.3

Python >= 3.11 (pillow 13 needs it; tested with 3.11.7).

(Pin PyMuPDF: easyofd leaves it open, and PyMuPDF 2.0 drags in onnxruntime and pymupdf4llm.)
No Debian package is needed: text is drawn with reportlab's built-in, non-embedded
`STSong-Light` CID font, for which MuPDF substitutes its own built-in CJK font.

Signatures: for each signature in Signatures.xml easyofd draws its StampAnnot (Boundary
only, no Clip) with the first picture it finds in SignedValue.dat (the SES_Signature, which holds
the SESeal); it does not read Seal.esl. It only decodes bitmap pictures (PNG/JPEG/...), so this
script adds OFD-format seal pictures (imageType "ofd", common on tax invoices): the inner OFD is
rendered with the same renderer, on a transparent background. easyofd keeps only one StampAnnot
per signature (the last). Page-content ImageObjects (PNG/JPEG) are drawn as ordinary images.

Fixes applied to easyofd 20260427 here (monkeypatched; they assume that exact version):
  * every text run is drawn with the hard-coded font name "宋体"; without simsun.ttc on the
    machine every glyph was silently skipped (a blank page), so "宋体" is registered here;
  * a TextObject without an ID attribute crashed the parser (KeyError '@ID');
  * DeltaX/DeltaY: "g N v" runs are expanded and a list shorter than the text is padded with
    its last value (easyofd otherwise deletes every non-Chinese character of such a run, e.g.
    an invoice number); a multi-character run with no DeltaX gets an estimated advance
    (1 em for CJK, 0.5 em otherwise) instead of stacking all glyphs on one spot;
  * paths are stroked (never filled) but with their FillColor; StrokeColor is used instead;
  * ImageObject resources were looked up in DocumentRes only; PublicRes's MultiMedias are added;
  * a file reference that matches a package entry only case-insensitively (e.g. "TPLS/..." for
    "Tpls/...") is resolved;
  * DrawPDF's own error handler, which turns any failure into a page reading
    "ofd 格式错误,不支持解析", is bypassed so that a failure is an error here.
Known limits of the renderer that remain: arcs in paths ("A") are drawn as wrong circles, CTM
rotation of text is ignored, the glyphs are a generic CJK sans, not the document's font.

Prints one line to stdout: `page 1: WxH px, stamps drawn D of S declared on page 1`.
Exits 1 (message on stderr) if the file is not an OFD package with a page 1, if rendering
raises, if page 1 has graphic objects but the render is blank, and with --require-stamp also if
no StampAnnot is declared on page 1 or one of them was not drawn.
"""
import argparse
import contextlib
import io
import logging
import posixpath
import sys
import unicodedata
import warnings
import zipfile
import xml.etree.ElementTree as ET

EASYOFD_VERSION = "20260427"
OFD_NS = "{http://www.ofdspec.org/2016}"


def die(msg):
    print(f"render_ofd: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Independent look at the package: page 1's content and the StampAnnots declared for it
def _resolve(base_dir, loc):
    loc = loc.strip().replace("\\", "/")
    if loc.startswith("/"):
        return posixpath.normpath(loc.lstrip("/"))
    return posixpath.normpath(posixpath.join(base_dir, loc))


def _read_xml(zf, names, path):
    real = names.get(path.lower())
    if real is None:
        return None
    return ET.fromstring(zf.read(real))


def inspect_package(data):
    """-> (StampAnnots declared for page 1, whether page 1 has any graphic object)."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = {n.lower(): n for n in zf.namelist()}
    root = _read_xml(zf, names, "OFD.xml")
    body = root.find(f"{OFD_NS}DocBody") if root is not None else None
    if body is None:
        raise ValueError("no OFD.xml with a DocBody")
    doc_path = _resolve("", body.findtext(f"{OFD_NS}DocRoot", ""))
    doc = _read_xml(zf, names, doc_path)
    page = doc.find(f"{OFD_NS}Pages/{OFD_NS}Page") if doc is not None else None
    if page is None:
        raise ValueError(f"no page in {doc_path}")
    page_path = _resolve(posixpath.dirname(doc_path), page.get("BaseLoc", ""))
    content = _read_xml(zf, names, page_path)
    if content is None:
        raise ValueError(f"page 1 content {page_path} is missing")
    has_objects = content.find(f"{OFD_NS}Template") is not None or any(
        el.tag.endswith("Object") for el in content.iter())
    sigs_loc = body.findtext(f"{OFD_NS}Signatures", "").strip()
    if not sigs_loc:
        return 0, has_objects
    page_id = page.get("ID")
    sigs_path = _resolve("", sigs_loc)
    sigs = _read_xml(zf, names, sigs_path)
    count = 0
    for sig in sigs.findall(f"{OFD_NS}Signature") if sigs is not None else []:
        one = _read_xml(zf, names, _resolve(posixpath.dirname(sigs_path), sig.get("BaseLoc", "")))
        if one is None:
            continue
        count += sum(1 for s in one.iter(f"{OFD_NS}StampAnnot") if s.get("PageRef") == page_id)
    return count, has_objects


# ---------------------------------------------------------------------------------------------
# Fixes to easyofd (see the module docstring)
def _expand_delta(rule, n_needed):
    vals, toks, i = [], rule.split(), 0
    while i < len(toks):
        if toks[i] == "g":
            vals += [float(toks[i + 2])] * int(float(toks[i + 1]))
            i += 3
        else:
            vals.append(float(toks[i]))
            i += 1
    if vals and len(vals) < n_needed:
        vals += [vals[-1]] * (n_needed - len(vals))
    return " ".join(repr(v) for v in vals)


def _advance(ch, size):
    return size if unicodedata.east_asian_width(ch) in ("W", "F") else size / 2


MERGED_RES = "render_ofd:merged-res:"


def _collect(obj, key, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                out.extend(v if isinstance(v, list) else [v])
            else:
                _collect(v, key, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect(v, key, out)


def patch_easyofd(stats):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    import easyofd.parser_ofd  # noqa: F401  (registers STSong-Light and tries simsun.ttc)
    from easyofd.draw import draw_pdf
    from easyofd.parser_ofd.file_content_parser import ContentFileParser
    from easyofd.parser_ofd.file_doc_parser import DocumentFileParser
    from easyofd.parser_ofd.ofd_parser import OFDParser

    if "宋体" not in pdfmetrics.getRegisteredFontNames():
        font = UnicodeCIDFont("STSong-Light")
        font.name = font.fontName = "宋体"
        pdfmetrics.registerFont(font)

    orig_cell = ContentFileParser.fetch_cell_info

    def fetch_cell_info(self, row, text_code):
        if "@ID" not in row:
            row = dict(row)
            row["@ID"] = ""
        cell = orig_cell(self, row, text_code)
        text = cell.get("text") or ""
        need = max(len(text) - 1, 0)
        for key in ("DeltaX", "DeltaY"):
            if cell.get(key):
                cell[key] = _expand_delta(cell[key], need)
        if not cell.get("DeltaX") and not cell.get("DeltaY") and need:
            cell["DeltaX"] = " ".join(repr(_advance(ch, cell["size"])) for ch in text[:-1])
        return cell

    ContentFileParser.fetch_cell_info = fetch_cell_info

    orig_content = ContentFileParser.__call__

    def content_call(self):
        content = orig_content(self)
        for line in content.get("line_list", []):  # draw_line strokes with FillColor
            stroke = [v for v in line.get("StrokeColor") or [] if v]
            if len(stroke) >= 3:
                line["FillColor"] = stroke
        return content

    ContentFileParser.__call__ = content_call

    orig_doc = DocumentFileParser.__call__

    def doc_call(self):  # images are looked up in DocumentRes only: add PublicRes's
        info = orig_doc(self)
        labels = list(info.get("document_res") or []) + list(info.get("public_res") or [])
        if labels:
            info["document_res"] = [MERGED_RES + "\n".join(labels)]
        return info

    DocumentFileParser.__call__ = doc_call

    orig_get = OFDParser.get_xml_obj

    def get_xml_obj(self, label):
        if label and label.startswith(MERGED_RES):
            media = []
            for one in label[len(MERGED_RES):].split("\n"):
                _collect(get_xml_obj(self, one), "ofd:MultiMedia", media)
            return {"ofd:Res": {"ofd:MultiMedias": {"ofd:MultiMedia": media}}}
        found = orig_get(self, label)
        if found == "" and label:
            want = label.replace("\\", "/").lstrip("./").lower()
            for key in self.file_tree:
                if isinstance(key, str) and key.replace("\\", "/").lower().endswith("/" + want):
                    return self.file_tree[key]
        return found

    OFDParser.get_xml_obj = get_xml_obj

    seal_cls = draw_pdf.SealExtract
    orig_to_image = seal_cls.hex_to_image

    def hex_to_image(self, binary_data, inx=0):
        img = orig_to_image(self, binary_data, inx)
        if img is None and binary_data[:4] == b"PK\x03\x04" and stats["depth"] < 2:
            try:
                img = render_first_page(binary_data, 600, stats, alpha=True)[0]
            except Exception as e:  # not an OFD, or not renderable: no picture
                logging.getLogger("render_ofd").info("OFD seal picture not rendered: %s", e)
                img = None
        return img

    seal_cls.hex_to_image = hex_to_image

    orig_sig = draw_pdf.DrawPDF.draw_signature

    def draw_signature(self, canvas, signatures, page_size):  # count the pictures it places
        placed = [0]
        real = canvas.drawImage

        def counting(*a, **k):
            result = real(*a, **k)
            placed[0] += 1
            return result

        canvas.drawImage = counting
        try:
            orig_sig(self, canvas, signatures, page_size)
        finally:
            del canvas.drawImage
        if stats["depth"] == 1:  # not a signature inside an OFD seal picture
            stats["stamps_drawn"].append(placed[0])

    draw_pdf.DrawPDF.draw_signature = draw_signature


# ---------------------------------------------------------------------------------------------
def render_first_page(data, dpi, stats, alpha=False):
    """OFD bytes -> PIL image of page 1 (RGBA with a transparent background if alpha)."""
    import base64

    import pymupdf
    from PIL import Image
    from easyofd.draw.draw_pdf import DrawPDF
    from easyofd.parser_ofd import OFDParser

    stats["depth"] += 1
    try:
        parsed = OFDParser(base64.b64encode(data).decode())()
        if not parsed or not parsed[0].get("page_info"):
            raise RuntimeError("no page found in the document")
        drawer = DrawPDF(parsed)
        drawer.draw_pdf()  # not DrawPDF.__call__, which hides errors behind a placeholder page
        pdf = drawer.pdf_io.getvalue()
    finally:
        stats["depth"] -= 1
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    if doc.page_count < 1:
        raise RuntimeError("the renderer produced no page")
    zoom = dpi / 200.0  # easyofd draws 200 PDF points per 25.4 mm
    pix = doc[0].get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=alpha)
    if pix.width < 1 or pix.height < 1:
        raise RuntimeError("empty page")
    return Image.open(io.BytesIO(pix.tobytes("png"))).copy(), parsed


def main():
    ap = argparse.ArgumentParser(description="Render page 1 of an OFD file to PNG (easyofd).")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--require-stamp", action="store_true",
                    help="exit 1 unless every StampAnnot declared on page 1 is drawn")
    args = ap.parse_args()

    try:
        data = open(args.input, "rb").read()
    except OSError as e:
        die(f"cannot read {args.input}: {e}")
    try:
        declared, has_objects = inspect_package(data)
    except (zipfile.BadZipFile, ET.ParseError, KeyError, ValueError) as e:
        die(f"{args.input} is not a readable OFD package: {e}")

    try:
        from importlib.metadata import version

        from loguru import logger
        from PIL import ImageOps
        have = version("easyofd")
    except Exception as e:
        die(f"the renderer is not installed ({e}): pip install easyofd=={EASYOFD_VERSION} ...")
    if have != EASYOFD_VERSION:
        print(f"render_ofd: warning: easyofd {have}, fixes written for {EASYOFD_VERSION}",
              file=sys.stderr)
    # easyofd logs through loguru, print() and logging; keep stdout for our one line.
    warnings.filterwarnings("ignore")
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    logging.basicConfig(level=logging.ERROR)

    stats = {"depth": 0, "stamps_drawn": []}
    noise = io.StringIO()
    try:
        with contextlib.redirect_stdout(noise):
            patch_easyofd(stats)
            img, _ = render_first_page(data, args.dpi, stats)
    except Exception as e:
        sys.stderr.write(noise.getvalue()[-2000:])
        die(f"rendering {args.input} failed: {type(e).__name__}: {e}")
    # draw_signature runs once per page when the document has signatures, page 1 first
    drawn = stats["stamps_drawn"][0] if stats["stamps_drawn"] else 0
    if has_objects and ImageOps.invert(img.convert("RGB")).getbbox() is None:
        die(f"rendering {args.input} gave a blank page, though page 1 has content")
    try:
        img.convert("RGB").save(args.output, "PNG")
    except OSError as e:
        die(f"cannot write {args.output}: {e}")
    print(f"page 1: {img.width}x{img.height} px, stamps drawn {drawn} of {declared} declared on page 1")
    if args.require_stamp and (declared == 0 or drawn < declared):
        die(f"--require-stamp: {drawn} of {declared} stamp(s) on page 1 drawn")


if __name__ == "__main__":
    main()
