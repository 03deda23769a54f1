#!/usr/bin/python3
"""Writes the fixtures the image tests compare against, with Pillow as the reference.

Run with Debian's python (apt-get install python3-pil python3-numpy):
    /usr/bin/python3 make_fixtures.py
from this directory. Generated with Pillow 9.4.0 and numpy 1.24.2.

preprocess/  source images and, for each case, Pillow's 8-bit result of LLaVA-1.5's
             expand2square + CLIPImageProcessor resize (bicubic, shortest edge) + centre crop,
             plus expected.json with the SHA-256 digest of the float32 pixel values computed
             with numpy exactly as transformers does (rescale in float64 then float32,
             normalise in float32). siglip_*.expected.png and siglip_expected.json: the same
             sources through SiglipImageProcessor (bicubic resize straight to height x width,
             no padding, no crop, mean and std 0.5); make_siglip() reads the stored sources, so
             it can run alone: /usr/bin/python3 -c 'import make_fixtures as m; m.make_siglip()'.
resize/      plain Image.resize(..., BICUBIC) cases.
decode/      one file per format and pixel layout, each with NAME.expected.png holding
             Pillow's Image.open -> (exif_transpose for JPEG) -> convert("RGB").
"""
import hashlib
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageFilter, ImageOps, features

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
RESCALE = 0.00392156862745098  # 1/255 as llava-hf's preprocessor_config.json writes it
SIZE = 336

rng = np.random.default_rng(1234)


def synthetic(w, h):
    """Smooth gradients, saturated hard-edged shapes (bicubic overshoot must clip) and a noise
    patch: detail at every frequency while still compressing well as PNG."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3), np.float64)
    img[..., 0] = 127 + 120 * np.sin(x / (w / 7.0) + y / (h / 3.0))
    img[..., 1] = 255 * x / max(w - 1, 1)
    img[..., 2] = 255 * ((x // max(w // 9, 1) + y // max(h // 7, 1)) % 2)
    img = img.astype(np.uint8)
    img[h // 5 : h // 5 + max(h // 6, 1), w // 3 : w // 3 + max(w // 5, 1)] = (255, 0, 255)
    img[h // 2 : h // 2 + max(h // 8, 1), w // 8 : w // 8 + max(w // 4, 1)] = (0, 0, 0)
    ph, pw = min(h // 3, 48), min(w // 3, 48)
    img[h - ph :, w - pw :] = rng.integers(0, 256, (ph, pw, 3), dtype=np.uint8)
    return Image.fromarray(img, "RGB")


def expand2square(pil_img, background_color):
    """LLaVA's llava/mm_utils.py expand2square."""
    width, height = pil_img.size
    if width == height:
        return pil_img
    elif width > height:
        result = Image.new(pil_img.mode, (width, width), background_color)
        result.paste(pil_img, (0, (width - height) // 2))
        return result
    else:
        result = Image.new(pil_img.mode, (height, height), background_color)
        result.paste(pil_img, ((height - width) // 2, 0))
        return result


def clip_preprocess_uint8(img, pad):
    """CLIPImageProcessor's resize (get_resize_output_image_size, default_to_square=False) and
    center_crop, stopping before rescale."""
    if pad:
        img = expand2square(img, tuple(int(x * 255) for x in MEAN))
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = SIZE, int(SIZE * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    img = img.resize((new_w, new_h), resample=Image.BICUBIC)
    arr = np.array(img)
    top = (new_h - SIZE) // 2
    left = (new_w - SIZE) // 2
    return arr[top : top + SIZE, left : left + SIZE]


def pixel_values_digest(arr, mean=MEAN, std=STD):
    """transformers' rescale and normalize, then CHW, hashed as PixelValues.digest does."""
    x = (arr.astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    chw = np.ascontiguousarray(x.transpose(2, 0, 1))
    c, h, w = chw.shape
    data = struct.pack(">3i", c, h, w) + chw.astype(">f4").tobytes()
    return hashlib.sha256(data).hexdigest(), [float(v) for v in chw.reshape(-1)[:4]]


def save_png(arr_or_img, path):
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    img.save(path, optimize=True)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png16(path, arr, color_type):
    """Pillow cannot write 16-bit RGB PNGs, so this writes one by hand (big-endian samples)."""
    h, w = arr.shape[:2]
    raw = arr.astype(">u2").reshape(h, -1).tobytes()
    stride = len(raw) // h
    rows = b"".join(b"\x00" + raw[i * stride : (i + 1) * stride] for i in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b""))


def make_preprocess():
    os.makedirs("preprocess", exist_ok=True)
    expected = {}
    cases = [(37, 23, True), (500, 333, True), (64, 400, True), (336, 336, True),
             (1000, 700, True), (500, 333, False), (64, 400, False)]
    for w, h in dict.fromkeys((w, h) for w, h, _ in cases):
        save_png(synthetic(w, h), f"preprocess/src_{w}x{h}.png")
    for w, h, pad in cases:
        src = f"preprocess/src_{w}x{h}.png"
        with Image.open(src) as im:
            out = clip_preprocess_uint8(im.convert("RGB"), pad)
        name = f"{w}x{h}_{'pad' if pad else 'nopad'}"
        save_png(out, f"preprocess/{name}.expected.png")
        digest, first = pixel_values_digest(out)
        expected[name] = {"source": os.path.basename(src), "pad": pad, "digest": digest,
                          "first_values": first}
    with open("preprocess/expected.json", "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)


SIGLIP_MEAN = [0.5, 0.5, 0.5]
SIGLIP_STD = [0.5, 0.5, 0.5]


def make_siglip():
    """SiglipImageProcessor: transformers' resize(size=(height, width)) goes through Pillow's
    Image.resize((width, height), BICUBIC) for uint8 input; then rescale and normalise."""
    expected = {}
    for (w, h), (out_h, out_w) in [((500, 333), (384, 384)), ((64, 400), (384, 384)),
                                   ((1000, 700), (224, 320))]:
        src = f"preprocess/src_{w}x{h}.png"
        with Image.open(src) as im:
            out = np.array(im.convert("RGB").resize((out_w, out_h), resample=Image.BICUBIC))
        name = f"siglip_{w}x{h}_to_{out_h}x{out_w}"
        save_png(out, f"preprocess/{name}.expected.png")
        digest, first = pixel_values_digest(out, SIGLIP_MEAN, SIGLIP_STD)
        expected[name] = {"source": os.path.basename(src), "height": out_h, "width": out_w,
                          "digest": digest, "first_values": first}
    with open("preprocess/siglip_expected.json", "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)


def make_resize():
    os.makedirs("resize", exist_ok=True)
    src = synthetic(120, 90)
    save_png(src, "resize/src_120x90.png")
    for w, h in [(53, 31), (120, 45), (300, 90), (411, 200), (7, 5)]:
        save_png(src.resize((w, h), resample=Image.BICUBIC), f"resize/120x90_to_{w}x{h}.png")


def make_decode():
    os.makedirs("decode", exist_ok=True)
    base = synthetic(48, 32)
    arr = np.array(base)
    alpha = Image.fromarray(rng.integers(0, 256, (32, 48), dtype=np.uint8), "L")
    files = {}

    files["gray.png"] = base.convert("L")
    files["palette.png"] = base.convert("P", palette=Image.ADAPTIVE, colors=50)
    rgba = base.copy()
    rgba.putalpha(alpha)
    files["rgba.png"] = rgba
    la = base.convert("L")
    la.putalpha(alpha)
    files["la.png"] = la
    files["bilevel.png"] = base.convert("1")
    for name, img in files.items():
        img.save("decode/" + name)
    base.save("decode/rgb_trns.png", transparency=(255, 0, 255))
    base.convert("P", palette=Image.ADAPTIVE, colors=64).save("decode/frame.gif")
    base.save("decode/rgb24.bmp")
    base.convert("P", palette=Image.ADAPTIVE, colors=16).save("decode/palette8.bmp")
    assert features.check("webp"), "this Pillow has no WebP support"
    base.save("decode/lossless.webp", lossless=True)
    rgba.save("decode/lossless_alpha.webp", lossless=True)
    base.save("decode/lossy.webp", quality=90)
    base.save("decode/plain.jpg", quality=92)
    base.convert("L").save("decode/gray.jpg", quality=92)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        base.save(f"decode/orientation{orientation}.jpg", quality=92, exif=exif.tobytes())

    rgb16 = arr.astype(np.uint16) * 257 + rng.integers(0, 257, arr.shape).astype(np.uint16)
    write_png16("decode/rgb16.png", rgb16, 2)
    gray16 = np.array(base.convert("L")).astype(np.uint16) * 257 + 100
    write_png16("decode/gray16.png", gray16, 0)
    # Photograph-like content (no pixel-scale chroma edges) for the lossy WebP tolerance.
    synthetic(96, 64).filter(ImageFilter.GaussianBlur(2)).save("decode/lossy_smooth.webp",
                                                                quality=90)

    for name in sorted(os.listdir("decode")):
        if name.endswith(".expected.png"):
            continue
        with Image.open("decode/" + name) as im:
            if name.endswith(".jpg"):
                im = ImageOps.exif_transpose(im)
            rgb = np.array(im.convert("RGB"))
        if name == "gray16.png":
            # Pillow opens 16-bit gray as mode I and convert("RGB") clips to 255, which turns
            # this picture (nearly) white; the decoder keeps the high byte instead, as Pillow does
            # for 16-bit RGB. Assert the clipping so a Pillow change is noticed.
            assert (rgb[..., 0] == np.minimum(gray16, 255)).all()
            hi = (gray16 >> 8).astype(np.uint8)
            rgb = np.stack([hi, hi, hi], axis=-1)
        save_png(rgb, "decode/" + name.rsplit(".", 1)[0] + "." + name.rsplit(".", 1)[1]
                 + ".expected.png")


if __name__ == "__main__":
    make_preprocess()
    make_siglip()
    make_resize()
    make_decode()
