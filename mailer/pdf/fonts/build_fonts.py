"""Rebuild RecapitoSans*.ttf (not run at run time; needs fontTools: `pip install fonttools`).

The fonts are DejaVu Sans 2.37 (Debian's fonts-dejavu-core) cut down to the scripts our documents use
(Latin with its extensions, Greek, Cyrillic, punctuation, currency, arrows, maths, box drawing, shapes)
and with the TrueType hinting removed, renamed "Recapito Sans" as the Bitstream Vera licence asks of
modified copies (LICENSE beside this file).

Why: Qt's PDF writer embeds the fonts of each PDF by loading every used glyph at 2048 ppem with the
hinting bytecode running (FreeType's TT_RunIns was ~12 % of wkhtmltopdf's time, the embedding ~34 %).
Without hinting the same invoice costs ~22 % less CPU; outlines and advance widths are DejaVu's, so the
page looks the same. A character outside the subset falls back to "DejaVu Sans" (see the templates'
font-family), so nothing is lost. Shipping the fonts also makes the bytes independent of the system's
DejaVu version.

    python mailer/pdf/fonts/build_fonts.py [/usr/share/fonts/truetype/dejavu]
"""

from __future__ import annotations

import os
import sys

from fontTools import subset
from fontTools.ttLib import TTFont

UNICODES = (
    "U+0020-007E,U+00A0-024F,U+0259,U+02B0-02FF,U+0300-036F,U+0370-03FF,U+0400-045F,"
    "U+1E00-1EFF,U+2000-206F,U+20A0-20CF,U+2100-218F,U+2190-21FF,U+2200-22FF,U+2300-23FF,"
    "U+2500-25FF,U+2600-26FF,U+FB00-FB06,U+FFFD"
)
FACES = {
    "DejaVuSans.ttf": ("RecapitoSans.ttf", "Book", "RecapitoSans"),
    "DejaVuSans-Bold.ttf": ("RecapitoSans-Bold.ttf", "Bold", "RecapitoSans-Bold"),
}


def build(source_dir: str, target_dir: str) -> None:
    for source, (target, style, postscript) in FACES.items():
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.hinting = False  # drop fpgm/prep/cvt and the glyph programs
        options.notdef_outline = True
        font = subset.load_font(os.path.join(source_dir, source), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=subset.parse_unicodes(UNICODES))
        subsetter.subset(font)
        for record in font["name"].names:
            if record.nameID in (1, 16):
                record.string = "Recapito Sans"
            elif record.nameID in (2, 17):
                record.string = style
            elif record.nameID == 4:
                record.string = "Recapito Sans" if style == "Book" else f"Recapito Sans {style}"
            elif record.nameID == 6:
                record.string = postscript
            elif record.nameID == 3:
                record.string = f"{postscript} (subset of DejaVu Sans 2.37, unhinted)"
        font.save(os.path.join(target_dir, target))
        TTFont(os.path.join(target_dir, target))  # reads back


if __name__ == "__main__":
    build(
        sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu",
        os.path.dirname(os.path.abspath(__file__)),
    )
