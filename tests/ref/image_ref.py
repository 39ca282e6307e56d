#!/usr/bin/python3
"""Independent reference for ftune's image input (docs/vision.md), on Debian's python3-pil + numpy.

  image_ref.py gen DIR            write test images of every colour type into DIR (PNGs through our own
                                  small PNG writer, so 16-bit, 1/2/4-bit, palette+tRNS and Adam7 are all
                                  covered; JPEGs through PIL: gray, RGB 4:2:0 and 4:4:4, progressive,
                                  CMYK, EXIF orientations 2..8)
  image_ref.py check FTUNE DIR    preprocess each image with `ftune image preprocess` under several
                                  processor configs and compare with what HF's ViTImageProcessor does:
                                  load_image's exif_transpose, convert("RGB") (or "L" for a 1-channel
                                  model), PIL Image.resize, float32(float64(x) * rescale_factor),
                                  (x - mean) / std in float32, channel-first.

One deliberate difference: PIL opens a 16-bit grayscale PNG as mode "I" and its convert("RGB") clips
values to 255; ftune keeps the high byte (as PIL itself does for 16-bit RGB/RGBA/LA), and so does this
reference for that mode.
"""
import json
import os
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps


# ---------------- a small PNG writer (all colour types, depths, Adam7) ----------------
def _pack(a, depth):
    rows = []
    for r in a:
        flat = np.asarray(r).reshape(-1).astype(np.int64)
        if depth == 16:
            b = flat.astype(">u2").tobytes()
        elif depth == 8:
            b = flat.astype("u1").tobytes()
        else:
            bits = "".join(format(int(v), "0%db" % depth) for v in flat)
            bits += "0" * (-len(bits) % 8)
            b = int(bits, 2).to_bytes(len(bits) // 8, "big")
        rows.append(b"\0" + b)
    return b"".join(rows)


def png_bytes(arr, ctype, depth, palette=None, trns=None, interlace=False, after=b""):
    h, w = arr.shape[:2]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                               (0, 1, 1, 2)]:
            sub = arr[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += _pack(sub, depth)
    else:
        raw = _pack(arr, depth)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw))
    if after:  # an eXIf chunk after the image data
        out += chunk(b"eXIf", after)
    return out + chunk(b"IEND", b"")


def _content(h, w, c, maxv, seed):
    """Smooth gradients plus noise: resampling differences show, values cover the whole range."""
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    chans = []
    for k in range(c):
        g = (np.sin(x / (3.0 + k) + k) + np.cos(y / (4.0 + 2 * k))) * 0.25 + 0.5
        g = g * 0.8 + rs.rand(h, w) * 0.2
        chans.append(np.clip(np.round(g * maxv), 0, maxv))
    a = np.stack(chans, -1).astype(np.int64)
    return a[..., 0] if c == 1 else a


def gen(d):
    os.makedirs(d, exist_ok=True)

    def put(name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    put("gray1.png", png_bytes(_content(21, 30, 1, 1, 1), 0, 1))
    put("gray2.png", png_bytes(_content(33, 17, 1, 3, 2), 0, 2))
    put("gray4.png", png_bytes(_content(40, 40, 1, 15, 3), 0, 4))
    put("gray8.png", png_bytes(_content(48, 64, 1, 255, 4), 0, 8))
    put("gray16.png", png_bytes(_content(30, 45, 1, 65535, 5), 0, 16))
    put("gray8_trns.png", png_bytes(_content(20, 20, 1, 255, 6), 0, 8, trns=struct.pack(">H", 128)))
    put("ga8.png", png_bytes(_content(25, 31, 2, 255, 7), 4, 8))
    put("ga16.png", png_bytes(_content(25, 31, 2, 65535, 8), 4, 16))
    put("rgb8.png", png_bytes(_content(57, 83, 3, 255, 9), 2, 8))
    put("rgb16.png", png_bytes(_content(36, 28, 3, 65535, 10), 2, 16))
    put("rgb8_trns.png", png_bytes(_content(16, 24, 3, 255, 11), 2, 8, trns=struct.pack(">HHH", 10, 20, 30)))
    put("rgba8.png", png_bytes(_content(44, 36, 4, 255, 12), 6, 8))
    put("rgba16.png", png_bytes(_content(19, 50, 4, 65535, 13), 6, 16))
    pal = np.random.RandomState(14).randint(0, 256, (256, 3))
    put("pal8_trns.png", png_bytes(_content(32, 48, 1, 255, 15), 3, 8, palette=pal, trns=bytes(range(0, 256, 2))))
    put("pal4.png", png_bytes(_content(27, 27, 1, 15, 16), 3, 4, palette=pal[:16]))
    put("pal1.png", png_bytes(_content(9, 70, 1, 1, 17), 3, 1, palette=pal[:2]))
    put("rgb8_adam7.png", png_bytes(_content(37, 29, 3, 255, 18), 2, 8, interlace=True))
    put("gray4_adam7.png", png_bytes(_content(13, 11, 1, 15, 19), 0, 4, interlace=True))
    put("rgba16_adam7.png", png_bytes(_content(10, 9, 4, 65535, 20), 6, 16, interlace=True))
    put("big_rgb8.png", png_bytes(_content(300, 260, 3, 255, 21), 2, 8))

    # EXIF orientation in PNGs: an eXIf chunk before the image data (PIL's writer) and after it (ours)
    ex = Image.Exif()
    ex[0x0112] = 6
    Image.fromarray(_content(14, 22, 3, 255, 24).astype(np.uint8), "RGB").save(os.path.join(d, "png_exif6.png"),
                                                                               exif=ex.tobytes())
    ex[0x0112] = 7
    put("png_exif7_after.png", png_bytes(_content(9, 16, 1, 255, 25), 0, 8, after=ex.tobytes()[6:]))

    rgb = Image.fromarray(_content(40, 64, 3, 255, 22).astype(np.uint8), "RGB")
    rgb.convert("L").save(os.path.join(d, "jpg_gray.jpg"), quality=90)
    rgb.save(os.path.join(d, "jpg_rgb420.jpg"), quality=85)
    rgb.save(os.path.join(d, "jpg_rgb444.jpg"), quality=95, subsampling=0)
    rgb.save(os.path.join(d, "jpg_progressive.jpg"), quality=80, progressive=True)
    rgb.convert("CMYK").save(os.path.join(d, "jpg_cmyk.jpg"), quality=90)
    odd = Image.fromarray(_content(24, 40, 3, 255, 23).astype(np.uint8), "RGB")
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        odd.save(os.path.join(d, "jpg_exif%d.jpg" % o), quality=92, exif=ex.tobytes())


# ---------------- what ViTImageProcessor does ----------------
def hf_preprocess(path, cfg, channels):
    im = ImageOps.exif_transpose(Image.open(path))
    if im.mode in ("I", "I;16", "I;16B"):  # the documented difference: high byte
        im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8), "L")
    im = im.convert("RGB" if channels == 3 else "L")
    size = cfg.get("size", 224)
    h, w = (size, size) if isinstance(size, int) else (size["height"], size["width"])
    if cfg.get("do_resize", True):
        im = im.resize((w, h), resample=cfg.get("resample", 2), reducing_gap=None)
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    if cfg.get("do_rescale", True):
        a = (a.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    if cfg.get("do_normalize", True):
        if not np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        mean = np.array(cfg.get("image_mean", [0.5] * channels), dtype=a.dtype)
        std = np.array(cfg.get("image_std", [0.5] * channels), dtype=a.dtype)
        a = (a - mean) / std
    return np.ascontiguousarray(a.transpose(2, 0, 1)).astype(np.float32)


def check(ftune, d):
    warnings.simplefilter("ignore")  # PIL: "Palette images with Transparency expressed in bytes ..."
    names = sorted(f for f in os.listdir(d) if f.endswith((".png", ".jpg")))
    every_resample = {"gray8.png", "rgb8.png", "rgba16.png", "jpg_rgb420.jpg", "big_rgb8.png", "pal4.png"}
    vit_in1k = {"do_normalize": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
                "image_std": [0.229, 0.224, 0.225], "resample": 3, "size": 224,
                "feature_extractor_type": "ViTFeatureExtractor"}
    n = exact = 0
    worst = 0.0
    failures = []
    for name in names:
        path = os.path.join(d, name)
        w0, h0 = ImageOps.exif_transpose(Image.open(path)).size
        # decode check: same size, no rescale/normalize -> the converted 8-bit pixels themselves
        cfgs = [({"size": {"height": h0, "width": w0}, "do_rescale": False, "do_normalize": False}, 3),
                ({"size": {"height": h0, "width": w0}, "do_rescale": False, "do_normalize": False}, 1),
                ({}, 3)]
        resamples = range(6) if name in every_resample else [2, 3]
        for r in resamples:
            cfgs.append(({"size": {"height": max(1, h0 // 3), "width": max(1, w0 // 2 - 1)}, "resample": r}, 3))
            cfgs.append(({"size": {"height": h0 * 2 + 5, "width": w0 * 3 - 1}, "resample": r}, 3))
        cfgs.append(({"size": {"height": 16, "width": 16}, "resample": 2, "do_normalize": True,
                      "image_mean": [0.5], "image_std": [0.5]}, 1))
        if name in every_resample:
            cfgs.append((vit_in1k, 3))
        for k, (cfg, ch) in enumerate(cfgs):
            cpath = os.path.join(d, "cfg.json")
            with open(cpath, "w") as f:
                json.dump(cfg, f)
            out = os.path.join(d, "out.bin")
            r = subprocess.run([ftune, "image", "preprocess", "--config", cpath, "--channels", str(ch), "--out", out,
                                path], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append("%s cfg %d: ftune failed: %s" % (name, k, r.stderr.strip()))
                continue
            got = np.fromfile(out, dtype="<f4")
            want = hf_preprocess(path, cfg, ch).reshape(-1)
            n += 1
            if got.shape != want.shape:
                failures.append("%s cfg %d: %d floats, reference %d" % (name, k, got.size, want.size))
                continue
            diff = float(np.max(np.abs(got - want))) if got.size else 0.0
            worst = max(worst, diff)
            if np.array_equal(got, want):
                exact += 1
            else:
                bad = int(np.sum(got != want))
                failures.append("%s cfg %s channels %d: %d of %d floats differ, max abs diff %g" %
                                (name, json.dumps(cfg), ch, bad, got.size, diff))
    print("image_ref: %d images, %d preprocess runs, %d bit-identical to the PIL/numpy reference, max abs diff %g"
          % (len(names), n, exact, worst))
    for f in failures[:30]:
        print("  " + f)
    return 1 if failures or n == 0 else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
