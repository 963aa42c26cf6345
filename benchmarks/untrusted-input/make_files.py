"""Writes the hostile files of docs/untrusted-input.md into a folder (default /tmp/mlnetcnn-untrusted).

PNG decompression bombs (a header declaring W x H with no pixel data), a complete PNG just under the default
decode limit, 7 MB of random bytes, 200 PNGs of 2000 x 2000 for the CLI's predict, and, when PyTorch is
installed, .pth files whose one storage of zeros (1 and 3 GiB) is deflated to about 1 and 3 MB.
Usage: /usr/bin/python3 make_files.py [folder]
"""
import os, shutil, struct, sys, zipfile, zlib

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mlnetcnn-untrusted"
os.makedirs(out, exist_ok=True)


def png(path, width, height, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    pixels = zlib.compressobj(9)
    body = b"".join(pixels.compress(b"\0" + bytes(((x * 7 + y * 13) & 255) for x in range(width))) for y in range(rows)) + pixels.flush()
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", body)
    with open(path, "wb") as f:
        f.write(data + (chunk(b"IEND", b"") if rows == height else b""))


for side in (60000, 30000, 20000):
    png(os.path.join(out, f"bomb{side // 1000}k.png"), side, side, 0)
png(os.path.join(out, "ok64.png"), 64, 64, 64)
png(os.path.join(out, "big39mp.png"), 6300, 6300, 6300)
with open(os.path.join(out, "noise7m.bin"), "wb") as f:
    f.write(os.urandom(7_000_000))
os.makedirs(os.path.join(out, "large"), exist_ok=True)
png(os.path.join(out, "large", "large-000.png"), 2000, 2000, 2000)
for i in range(1, 200):
    shutil.copyfile(os.path.join(out, "large", "large-000.png"), os.path.join(out, "large", f"large-{i:03d}.png"))

try:
    import torch
except ImportError:
    print("no PyTorch: .pth bombs skipped")
    sys.exit(0)
for gib in (1, 3):
    plain, bomb = os.path.join(out, f"zeros{gib}.pth"), os.path.join(out, f"bomb{gib}gib.pth")
    torch.save({"w": torch.zeros(gib << 28)}, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            with src.open(item) as r, dst.open(item.filename, "w", force_zip64=True) as w:
                shutil.copyfileobj(r, w, 1 << 24)
    os.remove(plain)
print(out)
