#!/usr/bin/env python3
"""Writes the embedded Fashion-MNIST subset: the first N images of each class, in file order.

Usage: python3 data/make-fashion-mnist-subset.py /usr/share/datasets/fashion-mnist data/fashion-mnist-subset
Fashion-MNIST is (c) Zalando SE, MIT licence (see data/fashion-mnist-subset/LICENSE).
"""
import gzip, struct, sys, os

PER_CLASS = {"train": 600, "t10k": 100}

def read(path):
    with gzip.open(path, "rb") as f:
        return f.read()

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for split, per_class in PER_CLASS.items():
    images = read(os.path.join(src, f"{split}-images-idx3-ubyte.gz"))
    labels = read(os.path.join(src, f"{split}-labels-idx1-ubyte.gz"))
    _, n, rows, cols = struct.unpack(">IIII", images[:16])
    size = rows * cols
    taken, keep = [0] * 10, []
    for i in range(n):
        c = labels[8 + i]
        if taken[c] < per_class:
            taken[c] += 1
            keep.append(i)
    out_images = struct.pack(">IIII", 0x803, len(keep), rows, cols) + b"".join(images[16 + i * size:16 + (i + 1) * size] for i in keep)
    out_labels = struct.pack(">II", 0x801, len(keep)) + bytes(labels[8 + i] for i in keep)
    for name, data in ((f"{split}-images-idx3-ubyte.gz", out_images), (f"{split}-labels-idx1-ubyte.gz", out_labels)):
        with gzip.GzipFile(os.path.join(dst, name), "wb", mtime=0) as f:
            f.write(data)
    print(split, len(keep), "images")
