"""A small PNG logo for the demo company, drawn here so that no binary file is needed."""

from __future__ import annotations

import struct
import zlib

_GLYPHS = {
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "I": ["11111", "00100", "00100", "00100", "00100", "00100", "11111"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
}


def demo_logo_png(scale: int = 6) -> bytes:
    """A PNG logo: a blue mark with a stylised envelope and the word BRAMBILLA."""
    word = "BRAMBILLA"
    height = 7 * scale + 2 * 3 * scale
    mark = height
    width = mark + 2 * scale + len(word) * 6 * scale + 2 * scale
    blue, white, ink = (29, 95, 168), (255, 255, 255), (31, 41, 55)
    pixels = [[white] * width for _ in range(height)]
    for y in range(height):
        for x in range(mark):
            pixels[y][x] = blue
    # envelope: the outline and the flap
    top, bottom, left, right = height // 4, height * 3 // 4, mark // 6, mark * 5 // 6
    for x in range(left, right):
        for y in (top, bottom):
            pixels[y][x] = white
            pixels[y + 1][x] = white
    for y in range(top, bottom):
        for x in (left, right - 1):
            pixels[y][x] = white
            pixels[y][x - 1] = white
    for x in range(left, right):
        y = top + (min(x - left, right - x) * (bottom - top) // (right - left))
        pixels[y][x] = white
        pixels[min(y + 1, height - 1)][x] = white
    x0 = mark + 2 * scale
    y0 = 3 * scale
    for index, letter in enumerate(word):
        for row, bits in enumerate(_GLYPHS[letter]):
            for col, bit in enumerate(bits):
                if bit == "1":
                    for dy in range(scale):
                        for dx in range(scale):
                            pixels[y0 + row * scale + dy][x0 + index * 6 * scale + col * scale + dx] = ink
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
