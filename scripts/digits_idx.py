#!/usr/bin/env python3
"""Writes the UCI optical-recognition digits (8x8 images, 1 797 samples, 10
classes; the copy scikit-learn ships as sklearn/datasets/data/digits.csv.gz)
as IDX files locus reads: the small real dataset of another shape than MNIST
on which docs/rules.md ("Defaults") checks every rule's defaults.

Usage:
    pip download --no-deps -d /tmp/wheel scikit-learn
    python3 scripts/digits_idx.py /tmp/wheel/scikit_learn-*.whl data/digits

The first 1 437 samples (80 %) are the training set, the last 360 the test
set; pixels 0..16 are scaled to 0..255 (round(v * 255 / 16)). Deterministic.
"""

import csv
import gzip
import io
import struct
import sys
import zipfile
from pathlib import Path


def idx(dims, data):
    """An IDX file of unsigned bytes (magic 0x0000080N)."""
    head = struct.pack(">I", 0x0800 | len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    return head + bytes(data)


def main():
    wheel, out = Path(sys.argv[1]), Path(sys.argv[2])
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read("sklearn/datasets/data/digits.csv.gz"))
    rows = [[int(float(v)) for v in r] for r in csv.reader(io.StringIO(raw.decode()))]
    images = [[round(v * 255 / 16) for v in r[:64]] for r in rows]
    labels = [r[64] for r in rows]
    n_train = len(rows) * 4 // 5
    out.mkdir(parents=True, exist_ok=True)
    for name, lo, hi in [("train", 0, n_train), ("t10k", n_train, len(rows))]:
        (out / f"{name}-images-idx3-ubyte").write_bytes(
            idx([hi - lo, 8, 8], [p for img in images[lo:hi] for p in img]))
        (out / f"{name}-labels-idx1-ubyte").write_bytes(idx([hi - lo], labels[lo:hi]))
    print(f"{out}: {n_train} training and {len(rows) - n_train} test samples of 8x8")


if __name__ == "__main__":
    main()
