#!/usr/bin/python3
"""Writes the tiny class-folder dataset of tests/test_finetune_replay.c.

Usage: finetune_replay_data.py OUT_DIR [SIZE]

OUT_DIR/data/<class>/... : 3 classes x 5 PNG images of SIZE x SIZE
(default 32), so batches of 4 end with a smaller one (15 = 4+4+4+3).
Names test the contract's byte order: class "Zeta" sorts before "alpha"
(uppercase first), "img10.png" before "img2.png", and one class keeps an
image in a subfolder (files are found recursively, ordered by relative
path). A non-image file and a dot-folder must be ignored by both trainers.
Each image is its own smooth random pattern with a class tint and noise. PNG only: lossless, so zoo's decoder and
Pillow read the same pixels.
"""
import os
import sys

import numpy as np
from PIL import Image

CLASSES = {
    "Zeta": ["img1.png", "img10.png", "img2.png", "img3.png", "img4.png"],
    "alpha": ["a.png", "b.PNG", "c.png", "d.png", "e.png"],
    "beta": ["x0.png", "x1.png", "sub/y0.png", "sub/y1.png", "z.png"],
}


def main():
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    rng = np.random.RandomState(7)
    root = os.path.join(out, "data")
    for k, (cls, files) in enumerate(sorted(CLASSES.items())):
        for j, rel in enumerate(files):
            path = os.path.join(root, cls, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # A smooth random pattern per image (upsampled 4x4 noise) with a
            # class tint: images differ a lot within a batch, which keeps
            # training-mode BatchNormalization's batch variance away from 0.
            small = rng.randint(0, 256, (4, 4, 3)).astype(np.uint8)
            img = np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC),
                             np.float64)
            img[..., k] += 40
            img += rng.uniform(-30, 30, img.shape)
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
        with open(os.path.join(root, cls, "notes.txt"), "w") as f:
            f.write("not an image\n")
    os.makedirs(os.path.join(root, ".hidden"), exist_ok=True)
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(
        os.path.join(root, ".hidden", "skip.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
