#!/usr/bin/env python3
"""Writes a small unsigned OFD (GB/T 33190-2016): one A4 page of text per argument after the
output path, with the Python standard library only (zipfile), for the README's walk and the
interop checks.  usage: make_ofd.py OUT.ofd [PAGE_TEXT ...]"""
import sys
import zipfile

NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def main() -> None:
    out = sys.argv[1]
    texts = sys.argv[2:] or ["电子印章测试文件 第1页"]
    pages = "".join(
        f'<ofd:Page ID="{10 + i}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(len(texts))
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "OFD.xml",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:OFD {NS} Version="1.0" DocType="OFD">'
            "<ofd:DocBody><ofd:DocInfo><ofd:DocID>6f1a2b3c</ofd:DocID><ofd:Creator>make_ofd.py</ofd:Creator>"
            "</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        )
        z.writestr(
            "Doc_0/Document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document {NS}><ofd:CommonData>'
            "<ofd:MaxUnitID>500</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox>"
            "</ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData>"
            f"<ofd:Pages>{pages}</ofd:Pages></ofd:Document>",
        )
        z.writestr(
            "Doc_0/PublicRes.xml",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res {NS} BaseLoc="Res"><ofd:Fonts>'
            '<ofd:Font ID="3" FontName="SimSun" FamilyName="SimSun"/></ofd:Fonts></ofd:Res>',
        )
        for i, text in enumerate(texts):
            deltas = " ".join(["6"] * (len(text) - 1))
            z.writestr(
                f"Doc_0/Pages/Page_{i}/Content.xml",
                f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page {NS}><ofd:Content>'
                f'<ofd:Layer ID="{100 + i}"><ofd:TextObject ID="{200 + i}" Boundary="20 30 170 10" Font="3" Size="5">'
                f'<ofd:FillColor Value="0 0 0"/><ofd:TextCode X="0" Y="5" DeltaX="{deltas}">{text}</ofd:TextCode>'
                "</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>",
            )


if __name__ == "__main__":
    main()
