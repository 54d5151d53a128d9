#!/usr/bin/env python3
"""Image folders for tests/test_cli_finetune.c, drawn with Pillow.

    finetune_cases.py OUT_DIR

Writes under OUT_DIR:
  data/{cat,dog,eel}/img{0..3}.png  32x32 RGB, a colour per class plus noise
  pixels.npy      float32 (12, 32, 32, 3): those images' pixels, in dataset
                  order (classes sorted, files sorted by name)
  val/{cat,dog,eel}/v0.png          one validation image per class
  val_other/{cat,dog,fox}/v0.png    a validation folder naming other classes
  one/only/a.png                    a folder with a single class
  bad/{cat,dog}/img{0,1}.png + bad/cat/broken.png (not an image)
"""
import os
import sys

import numpy as np
from PIL import Image

SIZE = 32
COLOURS = {"cat": (200, 40, 40), "dog": (40, 190, 60), "eel": (50, 60, 210),
           "fox": (220, 140, 20)}


def image(rng, colour):
    """A colour with a gradient and noise, so that images differ."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    base = np.array(colour, dtype=np.float64)
    g = (x[..., None] * rng.uniform(-2, 2, 3) + y[..., None] * rng.uniform(-2, 2, 3))
    a = base + g + rng.normal(0, 25, (SIZE, SIZE, 3))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def save(path, a):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(a, "RGB").save(path)


def main():
    out = sys.argv[1]
    rng = np.random.RandomState(1234)
    pixels = []
    for c in ("cat", "dog", "eel"):
        for i in range(4):
            a = image(rng, COLOURS[c])
            save(os.path.join(out, "data", c, "img%d.png" % i), a)
            pixels.append(a)
    np.save(os.path.join(out, "pixels.npy"), np.stack(pixels).astype(np.float32))
    for c in ("cat", "dog", "eel"):
        save(os.path.join(out, "val", c, "v0.png"), image(rng, COLOURS[c]))
    for c in ("cat", "dog", "fox"):
        save(os.path.join(out, "val_other", c, "v0.png"), image(rng, COLOURS[c]))
    save(os.path.join(out, "one", "only", "a.png"), image(rng, COLOURS["cat"]))
    for c in ("cat", "dog"):
        for i in range(2):
            save(os.path.join(out, "bad", c, "img%d.png" % i), image(rng, COLOURS[c]))
    with open(os.path.join(out, "bad", "cat", "broken.png"), "wb") as f:
        f.write(b"this is not a PNG file at all\n" * 4)


if __name__ == "__main__":
    main()
