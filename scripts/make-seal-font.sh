#!/usr/bin/env bash
# Regenerates src/seal/font/NotoSansSC-Bold-GB2312.otf, the glyph outlines the seal appearance
# draws: Noto Sans CJK SC Bold (OFL 1.1, Debian fonts-noto-cjk) cut down to the hanzi of
# GB 2312, ASCII and common CJK punctuation. Needs apt-get and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ]; then
  apt-get install -y -q fonts-noto-cjk >/dev/null
fi
venv=target/font-venv
[ -x "$venv/bin/pyftsubset" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q fonttools; }
chars=$(mktemp)
trap 'rm -f "$chars"' EXIT
python3 - "$chars" <<'PY'
import sys
chars = set(chr(c) for c in range(0x20, 0x7F))
chars |= set("（）·、—〔〕【】《》“”‘’：；，。．")
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
open(sys.argv[1], "w", encoding="utf-8").write("".join(sorted(chars)))
PY
# Font number 2 of the collection is the Simplified Chinese face.
"$venv/bin/pyftsubset" /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc --font-number=2 \
  --text-file="$chars" --no-hinting --layout-features='' \
  --drop-tables+=GSUB,GPOS,GDEF,BASE,VORG,vhea,vmtx --name-IDs='*' \
  --output-file=src/seal/font/NotoSansSC-Bold-GB2312.otf
ls -l src/seal/font/NotoSansSC-Bold-GB2312.otf
