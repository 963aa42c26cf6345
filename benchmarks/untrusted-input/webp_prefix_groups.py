"""Writes a lossless WebP whose pixels use GROUPS groups of prefix codes (docs/untrusted-input.md, "Not changed").

The decoder builds Huffman tables for every group it finds in the entropy image, whatever the image's size: with
65,536 groups (the most the format allows) a 1024 x 1024 image of 295 KB took 398 MB of peak memory and 1.9 s of
CPU to decode, against 42 MB and 0.12 s with one group. Every code is a one-symbol code, so the pixels cost no bits.
Usage: python3 webp_prefix_groups.py out.webp [width height groups]   (defaults 1024 1024 65536)
"""
import struct, sys


class Bits:
    """The VP8L bit writer: values least significant bit first, prefix codes most significant bit first."""

    def __init__(self):
        self.bits = []

    def value(self, v, n):
        self.bits += [(v >> i) & 1 for i in range(n)]

    def code(self, symbol, n):
        self.bits += [(symbol >> i) & 1 for i in range(n - 1, -1, -1)]

    def bytes(self):
        out = bytearray((len(self.bits) + 7) // 8)
        for i, bit in enumerate(self.bits):
            out[i >> 3] |= bit << (i & 7)
        return bytes(out)


def one_symbol_code(bits):
    bits.value(1, 1)  # simple code
    bits.value(0, 1)  # one symbol
    bits.value(0, 1)  # of 1 bit
    bits.value(0, 1)  # symbol 0


def eight_bit_code(bits, alphabet):
    """A normal code giving symbols 0-255 length 8 and the rest of the alphabet none."""
    bits.value(0, 1)
    bits.value(12 - 4, 4)  # 12 code-length code lengths, in the format's order
    for symbol in [17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8]:
        bits.value(1 if symbol in (0, 8) else 0, 3)
    bits.value(0, 1)  # no max_symbol
    for i in range(alphabet):
        bits.value(1 if i < 256 else 0, 1)  # code 1: length 8, code 0: length 0


def webp(width, height, groups, precision=2):
    bits = Bits()
    bits.value(0x2F, 8)
    bits.value(width - 1, 14)
    bits.value(height - 1, 14)
    bits.value(0, 1)  # no alpha
    bits.value(0, 3)  # version
    bits.value(0, 1)  # no transform
    bits.value(0, 1)  # no colour cache
    bits.value(1, 1)  # meta prefix codes: an entropy image of one pixel per 2^precision square
    bits.value(precision - 2, 3)
    side = 1 << precision
    entropy_pixels = ((width + side - 1) >> precision) * ((height + side - 1) >> precision)
    bits.value(0, 1)  # the entropy image: no colour cache, green and red 8-bit codes, the rest one symbol
    eight_bit_code(bits, 280)
    eight_bit_code(bits, 256)
    for _ in range(3):
        one_symbol_code(bits)
    for i in range(entropy_pixels):
        group = i % groups  # its red and green bytes
        bits.code(group & 255, 8)
        bits.code(group >> 8, 8)
    for _ in range(groups * 5):
        one_symbol_code(bits)
    data = bits.bytes()
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


if __name__ == "__main__":
    width, height, groups = (int(a) for a in sys.argv[2:5]) if len(sys.argv) > 4 else (1024, 1024, 65536)
    with open(sys.argv[1], "wb") as f:
        f.write(webp(width, height, groups))
