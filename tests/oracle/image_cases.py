#!/usr/bin/python3
"""Generates image decode / resize / preprocess / top-k cases with Pillow
and NumPy as the reference, for tests/test_preprocess.c.

Usage: image_cases.py OUT_DIR [PHOTOS_DIR]

Writes OUT_DIR/manifest.json and, per case, the input file and the
expected result as raw little-endian buffers (uint8 RGB rows, float32,
int32). Expectations are what Keras does, computed the way Keras computes
them rather than re-derived:

  decode      PIL.Image.open(BytesIO(data)), then convert("RGB") when the
              mode is not RGB (keras.utils.load_img); a Pillow exception
              means the C side must fail too. Files: JPEG baseline 4:2:0 /
              4:2:2 / 4:4:4, progressive, optimized, grayscale, Adobe CMYK,
              YCCK, Adobe RGB, EXIF-rotated, junk before a marker, missing
              EOI; PNG 1/2/4/8-bit gray, 16-bit gray, gray+alpha 8/16, RGB
              8/16, RGBA 8/16, palette 1/2/4/8-bit with and without tRNS
              and with a short PLTE, Adam7-interlaced variants of each;
              truncated and corrupted variants and decompression-bomb
              headers; small files cut at many lengths.
  resize      load_img's resize: img.resize((w, h), filter[, box=crop box
              when keep_aspect_ratio]) only when the size differs; a sweep
              of sizes up and down, odd, 1-pixel, for NEAREST, BILINEAR and
              BICUBIC. Plus per-axis sweeps (every in/out pair of 1..40 on
              one-row / one-column images) and NEAREST's source-index map
              for many size pairs (an "I" image holding x).
  preprocess  imagenet_utils._preprocess_numpy_input on float32 arrays.
  topk        decode_predictions' ranking: argsort()[-top:][::-1] then a
              stable sort by score, reverse=True.
  large       24-megapixel JPEGs (baseline, progressive) and an interlaced
              PNG of a picture the C test can compute, for the memory test.
  photos      with PHOTOS_DIR: Pillow's decode and resizes of each photo.

Deterministic (fixed seeds); runs in a few seconds.
"""
import io
import json
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image

warnings.simplefilter("ignore")
SEED = 20240620
rng = np.random.default_rng(SEED)

OUT = None
manifest = {
    "pillow": PIL.__version__,
    "numpy": np.__version__,
    "decode": [],
    "resize": [],
    "axis_sweep": [],
    "nearest_map": None,
    "preprocess": [],
    "topk": [],
    "large": [],
    "photos": [],
}


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    return name


# ---------------------------------------------------------------------------
# Synthetic pictures
# ---------------------------------------------------------------------------


def synth(w, h, seed, channels=3):
    """Smooth gradients, a few edges and some noise: content that exercises
    JPEG's chroma upsampling and the resize filters."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for c in range(channels):
        fx, fy = r.uniform(0.02, 0.3, 2)
        v = 128 + 90 * np.sin(x * fx + c) * np.cos(y * fy - c)
        v += 40 * ((x + 2 * y + 7 * c) % 23 < 11)
        v += r.normal(0, 12, (h, w))
        out.append(v)
    a = np.clip(np.stack(out, -1), 0, 255).astype(np.uint8)
    return a if channels > 1 else a[..., 0]


def load_like_keras(data):
    """(rgb uint8 HxWx3, None) or (None, error text)."""
    try:
        im = Image.open(io.BytesIO(data))
        if im.mode != "RGB":
            im = im.convert("RGB")
        a = np.asarray(im, dtype=np.uint8)
        return np.ascontiguousarray(a), None
    except Exception as e:  # any failure: the C side must fail too
        return None, f"{type(e).__name__}: {e}"


def add_decode(name, data, ext):
    fname = write(f"dec_{name}.{ext}", data)
    rgb, err = load_like_keras(data)
    case = {"name": name, "file": fname}
    if rgb is None:
        case.update(ok=False, pillow_error=err)
    else:
        case.update(ok=True, width=int(rgb.shape[1]), height=int(rgb.shape[0]),
                    expect=write(f"dec_{name}.rgb", rgb.tobytes()))
    manifest["decode"].append(case)
    return case


def pil_save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


# ---------------------------------------------------------------------------
# A small PNG writer (Pillow cannot write interlaced, short-palette or
# 16-bit gray+alpha PNGs).
# ---------------------------------------------------------------------------


def chunk(ctype, data):
    return (struct.pack(">I", len(data)) + ctype + data +
            struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF))


def pack_rows(samples, depth):
    """samples: (h, w, ch) ints -> list of row byte strings."""
    h, w, ch = samples.shape
    rows = []
    for y in range(h):
        s = samples[y].reshape(-1)
        if depth == 16:
            rows.append(s.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(s.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            n = (len(s) + per - 1) // per * per
            p = np.zeros(n, np.uint8)
            p[: len(s)] = s
            p = p.reshape(-1, per)
            b = np.zeros(len(p), np.uint16)
            for i in range(per):
                b |= (p[:, i].astype(np.uint16) << (8 - depth * (i + 1)))
            rows.append(b.astype(np.uint8).tobytes())
    return rows


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, cycle):
    """PNG filters 0..4 in turn (cycle) or always 0."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        ft = i % 5 if cycle else 0
        r = row
        f = bytearray(len(r))
        for x in range(len(r)):
            a = r[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[ft]
            f[x] = (r[x] - pred) & 0xFF
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
         (1, 0, 2, 2), (0, 1, 1, 2)]


def make_png(samples, depth, ctype, interlace=False, plte=None, trns=None,
             extra=(), cycle_filters=True, level=6):
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    raw = bytearray()
    if interlace:
        for xs, ys, dx, dy in ADAM7:
            sub = samples[ys::dy, xs::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += filter_rows(pack_rows(sub, depth), bpp, cycle_filters)
    else:
        raw += filter_rows(pack_rows(samples, depth), bpp, cycle_filters)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    for c in extra:
        out += c
    if plte is not None:
        out += chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    z = zlib.compress(bytes(raw), level)
    # two IDAT chunks, to exercise chunk boundaries
    cut = len(z) // 2
    out += chunk(b"IDAT", z[:cut]) + chunk(b"IDAT", z[cut:]) + chunk(b"IEND", b"")
    return out


# ---------------------------------------------------------------------------
# Decode cases
# ---------------------------------------------------------------------------


def jpeg_cases():
    sizes = [(1, 1), (3, 2), (37, 23), (61, 97), (129, 65)]
    base = None
    for (w, h) in sizes:
        rgb = Image.fromarray(synth(w, h, w * 1000 + h))
        tag = f"{w}x{h}"
        add_decode(f"jpeg_420_{tag}", pil_save(rgb, "JPEG", quality=90), "jpg")
        add_decode(f"jpeg_422_{tag}", pil_save(rgb, "JPEG", quality=85, subsampling=1), "jpg")
        add_decode(f"jpeg_444_{tag}", pil_save(rgb, "JPEG", quality=95, subsampling=0), "jpg")
        add_decode(f"jpeg_progressive_{tag}",
                   pil_save(rgb, "JPEG", quality=80, progressive=True), "jpg")
        add_decode(f"jpeg_gray_{tag}",
                   pil_save(Image.fromarray(synth(w, h, w + h, 1)), "JPEG", quality=90), "jpg")
        cmyk = Image.fromarray(synth(w, h, w * 7 + h, 4), mode="CMYK")
        add_decode(f"jpeg_cmyk_{tag}", pil_save(cmyk, "JPEG", quality=90), "jpg")
    w, h = 129, 65
    rgb = Image.fromarray(synth(w, h, 42))
    base = pil_save(rgb, "JPEG", quality=90)
    prog = pil_save(rgb, "JPEG", quality=90, progressive=True)
    add_decode("jpeg_optimized", pil_save(rgb, "JPEG", quality=100, optimize=True), "jpg")
    add_decode("jpeg_progressive_gray",
               pil_save(Image.fromarray(synth(w, h, 3, 1)), "JPEG", progressive=True), "jpg")
    # EXIF orientation 6: load_img does not rotate, neither do we.
    exif = Image.Exif()
    exif[0x0112] = 6
    add_decode("jpeg_exif_rotated", pil_save(rgb, "JPEG", exif=exif.tobytes()), "jpg")

    # YCCK: an Adobe CMYK file with the APP14 transform flag set to 2 is a
    # valid YCCK stream (libjpeg then converts YCC -> RGB on the first three
    # components before PIL's inversion).
    cmyk = pil_save(Image.fromarray(synth(w, h, 5, 4), mode="CMYK"), "JPEG", quality=90)
    i = cmyk.find(b"Adobe")
    assert i > 0, "Pillow's CMYK JPEG has no Adobe marker"
    ycck = bytearray(cmyk)
    ycck[i + 11] = 2
    add_decode("jpeg_ycck", bytes(ycck), "jpg")
    # RGB stored without YCbCr transform: an APP14 with transform 0.
    app14 = b"\xff\xee" + struct.pack(">H", 14) + b"Adobe" + b"\x00\x64\x00\x00\x00\x00\x00"
    add_decode("jpeg_adobe_rgb_marker", base[:2] + app14 + base[2:], "jpg")

    # libjpeg warnings PIL ignores: junk before a marker.
    sof = base.find(b"\xff\xc0")
    add_decode("jpeg_junk_before_marker", base[:sof] + b"\x00\x13\x37" + base[sof:], "jpg")
    # Missing EOI: fine for a baseline file (PIL ignores the suspended
    # finish), fatal for a progressive one (all scans are read first).
    add_decode("jpeg_no_eoi", base[:-2], "jpg")
    add_decode("jpeg_progressive_no_eoi", prog[:-2], "jpg")
    # Truncations and corruption.
    sos = base.find(b"\xff\xda")
    add_decode("jpeg_trunc_header", base[:sos - 20], "jpg")
    add_decode("jpeg_trunc_after_sos", base[:sos + 14], "jpg")
    add_decode("jpeg_trunc_half", base[: len(base) // 2], "jpg")
    add_decode("jpeg_trunc_last_bytes", base[:-40], "jpg")
    add_decode("jpeg_progressive_trunc", prog[: len(prog) * 3 // 4], "jpg")
    add_decode("jpeg_only_soi", base[:3], "jpg")
    r = np.random.default_rng(7)
    add_decode("jpeg_soi_then_garbage", base[:3] + r.integers(0, 256, 500, np.uint8).tobytes(), "jpg")
    # Flipped bits in the entropy-coded data: libjpeg warns and decodes
    # garbage; PIL returns that garbage.
    bad = bytearray(base)
    for k in range(sos + 40, len(bad) - 4, 97):
        if bad[k] != 0xFF and bad[k - 1] != 0xFF and (bad[k] ^ 0x24) != 0xFF:
            bad[k] ^= 0x24
    add_decode("jpeg_corrupt_entropy", bytes(bad), "jpg")
    # Decompression bomb: SOF claims 65000 x 65000.
    bomb = bytearray(base)
    bomb[sof + 5: sof + 9] = struct.pack(">HH", 65000, 65000)
    add_decode("jpeg_bomb", bytes(bomb), "jpg")
    return base


def png_cases():
    r = np.random.default_rng(11)
    for (w, h) in [(1, 1), (3, 2), (37, 23), (61, 97)]:
        tag = f"{w}x{h}"
        rgb = synth(w, h, w * 31 + h)
        gray = synth(w, h, w * 17 + h, 1)
        rgba = np.concatenate([rgb, synth(w, h, 99, 1)[..., None]], -1)
        la = np.stack([gray, synth(w, h, 98, 1)], -1)
        for il in (False, True):
            t = tag + ("_adam7" if il else "")
            add_decode(f"png_rgb8_{t}", make_png(rgb, 8, 2, il), "png")
            add_decode(f"png_rgba8_{t}", make_png(rgba, 8, 6, il), "png")
            add_decode(f"png_gray8_{t}", make_png(gray[..., None], 8, 0, il), "png")
            add_decode(f"png_la8_{t}", make_png(la, 8, 4, il), "png")
            g16 = r.integers(0, 65536, (h, w, 1))
            g16[..., 0].flat[:: 3] = r.integers(0, 300, g16[..., 0].flat[::3].shape)
            add_decode(f"png_gray16_{t}", make_png(g16, 16, 0, il), "png")
            add_decode(f"png_la16_{t}", make_png(r.integers(0, 65536, (h, w, 2)), 16, 4, il), "png")
            add_decode(f"png_rgb16_{t}", make_png(r.integers(0, 65536, (h, w, 3)), 16, 2, il), "png")
            add_decode(f"png_rgba16_{t}", make_png(r.integers(0, 65536, (h, w, 4)), 16, 6, il), "png")
            for d in (1, 2, 4):
                add_decode(f"png_gray{d}_{t}",
                           make_png(r.integers(0, 1 << d, (h, w, 1)), d, 0, il), "png")
            for d in (1, 2, 4, 8):
                n = 1 << d
                plte = r.integers(0, 256, (n, 3))
                idx = r.integers(0, n, (h, w, 1))
                add_decode(f"png_pal{d}_{t}", make_png(idx, d, 3, il, plte=plte), "png")
                add_decode(f"png_pal{d}_trns_{t}",
                           make_png(idx, d, 3, il, plte=plte,
                                    trns=bytes(r.integers(0, 256, max(1, n // 2), np.uint8))),
                           "png")
            # PLTE shorter than the indices used: Pillow's ramp shows.
            plte = r.integers(0, 256, (5, 3))
            add_decode(f"png_pal8_short_plte_{t}",
                       make_png(r.integers(0, 256, (h, w, 1)), 8, 3, il, plte=plte), "png")
            # tRNS on gray and RGB: ignored by convert("RGB").
            add_decode(f"png_gray8_trns_{t}",
                       make_png(gray[..., None], 8, 0, il, trns=struct.pack(">H", 17)), "png")
            add_decode(f"png_rgb8_trns_{t}",
                       make_png(rgb, 8, 2, il, trns=struct.pack(">HHH", 1, 2, 3)), "png")
    # Pillow's own writer (adaptive filters, its chunk layout).
    w, h = 65, 33
    rgb = synth(w, h, 1234)
    add_decode("png_pillow_rgb", pil_save(Image.fromarray(rgb), "PNG"), "png")
    add_decode("png_pillow_rgba",
               pil_save(Image.fromarray(np.concatenate([rgb, rgb[..., :1]], -1), "RGBA"), "PNG"),
               "png")
    add_decode("png_pillow_l", pil_save(Image.fromarray(rgb[..., 0]), "PNG"), "png")
    add_decode("png_pillow_la", pil_save(Image.fromarray(rgb[..., :2].copy(), "LA"), "PNG"), "png")
    add_decode("png_pillow_p", pil_save(Image.fromarray(rgb).quantize(200), "PNG"), "png")
    add_decode("png_pillow_p16", pil_save(Image.fromarray(rgb).quantize(16), "PNG"), "png")
    add_decode("png_pillow_p_trns",
               pil_save(Image.fromarray(rgb).quantize(50), "PNG", transparency=3), "png")
    add_decode("png_pillow_1", pil_save(Image.fromarray(rgb[..., 0]).convert("1"), "PNG"), "png")
    add_decode("png_pillow_i16",
               pil_save(Image.fromarray((rgb[..., 0].astype(np.uint16) * 3), "I;16"), "PNG"), "png")
    add_decode("png_pillow_i",
               pil_save(Image.fromarray(rgb[..., 1].astype(np.int32) * 2, "I"), "PNG"), "png")

    gray = synth(w, h, 5, 1)[..., None]
    good = make_png(rgb, 8, 2)
    # Ancillary chunks libpng would otherwise interpret (text, gamma, ICC,
    # sBIT, a private chunk): ignored, as by convert("RGB").
    extra = [chunk(b"gAMA", struct.pack(">I", 45455)), chunk(b"sBIT", b"\x05\x06\x05"),
             chunk(b"tEXt", b"Comment\x00hello"), chunk(b"prVt", b"private data"),
             chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))]
    add_decode("png_ancillary_chunks", make_png(rgb, 8, 2, extra=extra), "png")
    # Truncations: the file ending before the last row fails; a missing
    # IEND does not (PIL stops reading once every row is decoded).
    add_decode("png_trunc_signature", good[:5], "png")
    add_decode("png_trunc_ihdr", good[:20], "png")
    add_decode("png_trunc_half", good[: len(good) // 2], "png")
    add_decode("png_trunc_last_idat", good[:-30], "png")
    add_decode("png_no_iend", good[:-12], "png")
    add_decode("png_cut_in_adler32", good[:-18], "png")  # rows complete: PIL decodes
    last = good.rfind(b"IDAT") - 4
    add_decode("png_idat_length_overrun",
               good[:last] + struct.pack(">I", 0x7FFF0000) + good[last + 4:], "png")
    add_decode("png_adam7_trunc", make_png(rgb, 8, 2, True)[:-200], "png")
    # Broken CRCs: IHDR and pre-IDAT ancillary chunks are checked by PIL,
    # IDAT's CRC is not.
    bad = bytearray(good)
    bad[29] ^= 1  # IHDR CRC (8 signature + 8 header + 13 data = 29)
    add_decode("png_bad_ihdr_crc", bytes(bad), "png")
    t = make_png(rgb, 8, 2, extra=[chunk(b"tEXt", b"Comment\x00hello")])
    i = t.find(b"tEXt")
    bad = bytearray(t)
    bad[i + 4 + 13] ^= 0x40  # last byte of the tEXt CRC
    add_decode("png_bad_text_crc", bytes(bad), "png")
    i = good.find(b"IDAT")
    n = struct.unpack(">I", good[i - 4: i])[0]
    bad = bytearray(good)
    bad[i + 4 + n] ^= 0xFF  # first IDAT's CRC
    add_decode("png_bad_idat_crc", bytes(bad), "png")
    bad = bytearray(good)
    for k in range(i + 10, i + 4 + n, 7):
        bad[k] ^= 0x5A  # corrupt compressed data
    add_decode("png_corrupt_zlib", bytes(bad), "png")
    # Bad IHDR values.
    add_decode("png_bad_depth",
               b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 3, 2, 0, 0, 0)) +
               good[33:], "png")
    add_decode("png_palette_without_plte", make_png(gray, 8, 3), "png")
    # Decompression bomb: IHDR claims 20000 x 20000.
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    add_decode("png_bomb", bomb + good[33:], "png")


def truncation_sweep():
    """Small files cut at many lengths (every 5th byte, and each of the
    last 40): decoding must fail exactly where Pillow fails."""
    rgb = Image.fromarray(synth(37, 23, 77))
    files = [("jpeg", pil_save(rgb, "JPEG", quality=75), "jpg"),
             ("jpegprog", pil_save(rgb, "JPEG", quality=75, progressive=True), "jpg"),
             ("png", make_png(synth(19, 11, 78), 8, 2), "png"),
             ("pngadam7", make_png(synth(19, 11, 79), 8, 2, True), "png")]
    for tag, data, ext in files:
        cuts = sorted(set(range(1, len(data), 5)) | set(range(max(1, len(data) - 40), len(data))))
        for n in cuts:
            add_decode(f"cut_{tag}_{n}", data[:n], ext)


def misc_cases():
    r = np.random.default_rng(3)
    junk = r.integers(0, 256, 1000, np.uint8)
    junk[0] = 0x42  # not FF / 89
    add_decode("random_bytes", junk.tobytes(), "bin")
    add_decode("text_file", b"this is not an image\n", "jpg")
    # Formats Pillow opens but zoo does not decode: must fail, saying so.
    for fmt, ext in (("GIF", "gif"), ("BMP", "bmp")):
        c = add_decode(f"{ext}_image", pil_save(Image.fromarray(synth(8, 8, 1)), fmt), ext)
        c["unsupported_format"] = fmt


# ---------------------------------------------------------------------------
# Resize cases
# ---------------------------------------------------------------------------

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def keras_resize(im, w, h, filt, keep):
    """keras.utils.load_img's resize step."""
    if im.size == (w, h):
        return im
    if keep:
        width, height = im.size
        crop_height = (width * h) // w
        crop_width = (height * w) // h
        crop_height = min(height, crop_height)
        crop_width = min(width, crop_width)
        hs = (height - crop_height) // 2
        ws = (width - crop_width) // 2
        return im.resize((w, h), FILTERS[filt], box=[ws, hs, ws + crop_width, hs + crop_height])
    return im.resize((w, h), FILTERS[filt])


def resize_cases():
    srcs = [(1, 1), (2, 3), (37, 23), (61, 97), (200, 150), (640, 427)]
    for (sw, sh) in srcs:
        a = synth(sw, sh, sw * 13 + sh)
        src = write(f"rs_src_{sw}x{sh}.rgb", a.tobytes())
        im = Image.fromarray(a)
        up = (2 * sw + 1, 3 * sh) if sw < 200 else (sw + 51, sh + 13)
        targets = {(1, 1), (5, 3), (17, 29), (sw, sh), (sw + 1, sh), (sw, max(1, sh // 2)),
                   up, (max(1, sw // 3), max(1, sh // 7)), (224, 224)}
        if sw >= 200:
            targets |= {(299, 299), (331, 331), (7, 224)}
        for (tw, th) in sorted(targets):
            for filt in FILTERS:
                for keep in (False, True):
                    if keep and (tw, th) == (sw, sh):
                        continue
                    out = np.asarray(keras_resize(im, tw, th, filt, keep))
                    name = f"rs_{sw}x{sh}_to_{tw}x{th}_{filt}{'_keep' if keep else ''}"
                    manifest["resize"].append({
                        "name": name, "src": src, "src_w": sw, "src_h": sh,
                        "w": tw, "h": th, "filter": filt, "keep_aspect": keep,
                        "expect": write(name + ".rgb", out.tobytes())})

    # Per-axis sweeps: every (in, out) in 1..40 on one-row (x) and
    # one-column (y) images: the coefficient tables, exhaustively.
    n = 40
    for filt in ("bilinear", "bicubic"):
        for axis in ("x", "y"):
            pairs, srcb, expb = [], bytearray(), bytearray()
            for i in range(1, n + 1):
                for o in range(1, n + 1):
                    if i == o:
                        continue
                    a = rng.integers(0, 256, (1, i, 3) if axis == "x" else (i, 1, 3), np.uint8)
                    out = Image.fromarray(a).resize((o, 1) if axis == "x" else (1, o),
                                                    FILTERS[filt])
                    pairs.append([i, o])
                    srcb += a.tobytes()
                    expb += np.asarray(out).tobytes()
            manifest["axis_sweep"].append({
                "filter": filt, "axis": axis, "pairs": pairs,
                "src": write(f"sweep_{filt}_{axis}.src", bytes(srcb)),
                "expect": write(f"sweep_{filt}_{axis}.rgb", bytes(expb))})

    # NEAREST's source index for many (in, out) pairs: an "I" image of one
    # row holding x, resized.
    pairs = [[i, o] for i in range(1, 65) for o in range(1, 65)]
    r = np.random.default_rng(5)
    pairs += [[int(i), int(o)] for i, o in zip(r.integers(1, 20000, 300), r.integers(1, 3000, 300))]
    pairs += [[768, 224], [773, 299], [512, 224], [4000, 224], [6000, 331], [3, 20000]]
    maps = bytearray()
    for i, o in pairs:
        im = Image.fromarray(np.arange(i, dtype=np.int32)[None, :], "I")
        maps += np.asarray(im.resize((o, 1), Image.NEAREST), dtype="<i4").tobytes()
    manifest["nearest_map"] = {"pairs": pairs, "file": write("nearest_map.i32", bytes(maps))}


# ---------------------------------------------------------------------------
# preprocess_input and decode_predictions
# ---------------------------------------------------------------------------


def keras_preprocess(x, mode):
    """imagenet_utils._preprocess_numpy_input, channels_last."""
    x = x.astype(np.float32, copy=True)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean = [0.485, 0.456, 0.406]
        std = [0.229, 0.224, 0.225]
    else:
        x = x[..., ::-1].copy()
        mean = [103.939, 116.779, 123.68]
        std = None
    x[..., 0] -= mean[0]
    x[..., 1] -= mean[1]
    x[..., 2] -= mean[2]
    if std is not None:
        x[..., 0] /= std[0]
        x[..., 1] /= std[1]
        x[..., 2] /= std[2]
    return x


def preprocess_cases():
    v = np.arange(256)
    a = np.stack([v, 255 - v, (v * 7) % 256], -1).astype(np.uint8)[None]  # 1 x 256
    src = write("pp_src.rgb", a.tobytes())
    for mode in ("caffe", "tf", "torch"):
        out = keras_preprocess(a.astype(np.float32), mode)
        manifest["preprocess"].append({
            "mode": mode, "src": src, "n": 256,
            "expect": write(f"pp_{mode}.f32", out.astype("<f4").tobytes())})


def decode_predictions_order(pred, top):
    """imagenet_utils.decode_predictions, for one row, indices only."""
    top_indices = pred.argsort()[-top:][::-1]
    result = [(int(i), pred[i]) for i in top_indices]
    result.sort(key=lambda x: x[1], reverse=True)
    return [i for i, _ in result]


def topk_cases():
    r = np.random.default_rng(17)
    cases = []
    p = r.random(1000).astype(np.float32)
    cases.append(("random_1000", p / p.sum(), 5))
    cases.append(("zeros_1000", np.zeros(1000, np.float32), 5))
    cases.append(("zeros_20", np.zeros(20, np.float32), 5))
    cases.append(("equal_1000_top10", np.full(1000, 1e-3, np.float32), 10))
    q = np.round(r.random(1000) * 8).astype(np.float32) / 8  # many ties
    cases.append(("quantized_ties", q, 5))
    cases.append(("quantized_ties_top50", q, 50))
    q2 = np.round(r.random(1000) * 3).astype(np.float32)
    cases.append(("few_levels_top20", q2, 20))
    t = r.random(1000).astype(np.float32) * 0.5
    t[[3, 500, 999, 17, 250]] = 0.9  # a five-way tie at the top
    t[[4, 8]] = 0.8
    cases.append(("tie_at_top", t, 5))
    cases.append(("tie_at_cut", t, 6))
    cases.append(("small_n", np.array([0.1, 0.3, 0.3, 0.2], np.float32), 3))
    cases.append(("top_exceeds_n", np.array([0.5, 0.1, 0.4], np.float32), 5))
    cases.append(("single", np.array([0.25], np.float32), 5))
    s = r.random(1000).astype(np.float32)
    s[[10, 20, 30]] = np.nan
    cases.append(("nan_scores", s, 5))
    s2 = np.zeros(300, np.float32)
    s2[[5, 6]] = np.nan
    s2[[7, 8, 9]] = 1.0
    cases.append(("nan_and_ties", s2, 6))
    cases.append(("negative_inf", np.array([-np.inf, 0, -1, np.inf, -np.inf], np.float32), 5))
    for k in range(12):  # random small tie-heavy rows, many sizes
        n = int(r.integers(2, 200))
        cases.append((f"rand_ties_{k}", r.integers(0, 4, n).astype(np.float32), int(r.integers(1, 40))))
    for name, scores, top in cases:
        manifest["topk"].append({
            "name": name, "n": int(len(scores)), "top": top,
            "scores": write(f"topk_{name}.f32", scores.astype("<f4").tobytes()),
            "expect": decode_predictions_order(scores, top)})


# ---------------------------------------------------------------------------
# Large images (memory) and photos
# ---------------------------------------------------------------------------


def large_picture(w, h, channels=3):
    """The 24-megapixel test picture, also computed by the C test:
    R = x * 255 // (w - 1), G = y * 255 // (h - 1), B = (x + y) // 16 % 256
    (one channel: R only)."""
    x = np.arange(w, dtype=np.uint32)
    y = np.arange(h, dtype=np.uint32)
    a = np.empty((h, w, channels), np.uint8)
    a[..., 0] = (x * 255 // (w - 1)).astype(np.uint8)[None, :]
    if channels == 3:
        a[..., 1] = (y * 255 // (h - 1)).astype(np.uint8)[:, None]
        a[..., 2] = ((x.astype(np.uint16)[None, :] + y.astype(np.uint16)[:, None]) >> 4).astype(np.uint8)
    return a


def large_cases():
    """No Pillow decode here (seconds at 24 MP): the C test compares with
    the picture itself, exactly for PNG, within JPEG's error for JPEG."""
    w, h = 6000, 4000
    im = Image.fromarray(large_picture(w, h))
    for name, data in (("large_baseline", pil_save(im, "JPEG", quality=90)),
                       ("large_progressive", pil_save(im, "JPEG", quality=90, progressive=True))):
        manifest["large"].append({"name": name, "file": write(name + ".jpg", data),
                                  "width": w, "height": h, "channels": 3})
    del im
    # Interlaced 8-bit gray PNG: libpng de-interlaces into the whole image.
    # Rows use the Sub filter (mostly zero bytes: quick to compress).
    pw, ph = 4000, 6000
    a = large_picture(pw, ph, 1)[..., 0]
    raw = bytearray()
    for xs, ys, dx, dy in ADAM7:
        sub = a[ys::dy, xs::dx]
        f = np.empty((sub.shape[0], sub.shape[1] + 1), np.uint8)
        f[:, 0] = 1
        f[:, 1] = sub[:, 0]
        f[:, 2:] = np.diff(sub, axis=1)
        raw += f.tobytes()
    ihdr = struct.pack(">IIBBBBB", pw, ph, 8, 0, 0, 0, 1)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(bytes(raw), 1)) + chunk(b"IEND", b""))
    manifest["large"].append({"name": "large_adam7_gray", "file": write("large_adam7_gray.png", data),
                              "width": pw, "height": ph, "channels": 1})


def photo_cases(photos):
    for fn in sorted(os.listdir(photos)):
        if not fn.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        path = os.path.join(photos, fn)
        with open(path, "rb") as f:
            data = f.read()
        im = Image.open(io.BytesIO(data))
        if im.mode != "RGB":
            im = im.convert("RGB")
        dec = np.asarray(im)
        case = {"file": path, "name": fn, "width": im.size[0], "height": im.size[1],
                "decode": write(f"photo_{fn}.rgb", dec.tobytes()), "resizes": []}
        for (w, h) in ((224, 224), (299, 299)):
            for filt in FILTERS:
                for keep in (False, True):
                    out = np.asarray(keras_resize(im, w, h, filt, keep))
                    name = f"photo_{fn}_{w}x{h}_{filt}{'_keep' if keep else ''}"
                    case["resizes"].append({"w": w, "h": h, "filter": filt, "keep_aspect": keep,
                                            "expect": write(name + ".rgb", out.tobytes())})
        manifest["photos"].append(case)


def main():
    global OUT
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    jpeg_cases()
    png_cases()
    truncation_sweep()
    misc_cases()
    resize_cases()
    preprocess_cases()
    topk_cases()
    large_cases()
    if len(sys.argv) == 3 and os.path.isdir(sys.argv[2]):
        photo_cases(sys.argv[2])
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
