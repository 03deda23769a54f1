#!/usr/bin/python3
"""Writes the LLaVA-NeXT fixtures: LlavaNextImageProcessor's tiles and the per-size token counts,
computed here independently with numpy and Pillow from transformers' definitions.

Run with Debian's python (apt-get install python3-pil python3-numpy) from this directory:
    /usr/bin/python3 make_next_fixtures.py
It reads the sources make_fixtures.py wrote (preprocess/src_*.png, resize/src_120x90.png) and
writes next/. Generated with Pillow 9.4.0 and numpy 1.24.2.

next/expected.json  per case: the source, the tile size and pinpoints, the chosen resolution
                    (select_best_resolution), the aspect-kept size inside it
                    (get_patch_output_size: the free side math.ceil'ed, then min'ed with the
                    target), the tile count, the SHA-256 of each tile's float32 values and of the
                    whole value as PixelValues.digest hashes it (header >6i: tiles, 3, H, W, image
                    height, image width), and the first values.
next/CASE.canvas.png the resized image padded centred with zeros to the chosen resolution, 8-bit,
                    before any normalisation (transformers pads its uint8 array), which the grid
                    tiles are cut from row-major.
next/CASE.base.png  the whole image resized straight to the base tile (Image.resize, bicubic).
next/counts.json    positions per image size for llava-v1.6 (336 px tiles in 14 px patches) and
                    for the tiny preset (56 px tiles), by processing_llava_next's
                    _get_number_of_features (CLIP: num_additional_image_tokens 1 and the
                    "default" strategy's -1), with the tile counts of modeling_llava_next's
                    image_size_to_num_patches.
"""
import hashlib
import json
import math
import os
import struct

import numpy as np
from PIL import Image

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
RESCALE = 0.00392156862745098

V16 = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def scaled(pinpoints, tile):
    return [[h // 336 * tile, w // 336 * tile] for h, w in pinpoints]


def select_best_resolution(original_size, possible_resolutions):
    """image_processing_utils.select_best_resolution, original_size as (height, width)."""
    original_height, original_width = original_size
    best_fit = None
    max_effective_resolution = 0
    min_wasted_resolution = float("inf")
    for height, width in possible_resolutions:
        scale = min(width / original_width, height / original_height)
        downscaled_width, downscaled_height = int(original_width * scale), int(original_height * scale)
        effective_resolution = min(downscaled_width * downscaled_height, original_width * original_height)
        wasted_resolution = (width * height) - effective_resolution
        if effective_resolution > max_effective_resolution or (
            effective_resolution == max_effective_resolution and wasted_resolution < min_wasted_resolution
        ):
            max_effective_resolution = effective_resolution
            min_wasted_resolution = wasted_resolution
            best_fit = (height, width)
    return best_fit


def patch_output_size(original_height, original_width, target_resolution):
    """image_processing_utils.get_patch_output_size."""
    target_height, target_width = target_resolution
    scale_w = target_width / original_width
    scale_h = target_height / original_height
    if scale_w < scale_h:
        new_width = target_width
        new_height = min(math.ceil(original_height * scale_w), target_height)
    else:
        new_height = target_height
        new_width = min(math.ceil(original_width * scale_h), target_width)
    return new_height, new_width


def clip_steps(arr, size):
    """CLIPImageProcessor's resize (shortest edge, through PIL) and centre crop on one uint8 tile,
    then rescale (float64, then float32) and normalise (float32), as CHW."""
    h, w = arr.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    arr = np.array(Image.fromarray(arr).resize((new_w, new_h), resample=Image.BICUBIC))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    arr = arr[top : top + size, left : left + size]
    x = (arr.astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def llava_next(img, pinpoints, tile):
    """LlavaNextImageProcessor.preprocess for one image: get_image_patches, then _preprocess."""
    arr = np.array(img)
    height, width = arr.shape[:2]
    best = select_best_resolution((height, width), pinpoints)
    new_h, new_w = patch_output_size(height, width, best)
    resized = np.array(img.resize((new_w, new_h), resample=Image.BICUBIC))
    paste_x, r_x = divmod(best[1] - new_w, 2)
    paste_y, r_y = divmod(best[0] - new_h, 2)
    padded = np.pad(resized, ((paste_y, paste_y + r_y), (paste_x, paste_x + r_x), (0, 0)),
                    mode="constant", constant_values=0)
    patches = [padded[i : i + tile, j : j + tile]
               for i in range(0, best[0], tile) for j in range(0, best[1], tile)]
    base = np.array(img.resize((tile, tile), resample=Image.BICUBIC))
    tiles = [clip_steps(t, tile) for t in [base] + patches]
    return best, (new_h, new_w), padded, base, np.stack(tiles)


def sha(header_fmt, header, values):
    data = struct.pack(header_fmt, *header) + values.astype(">f4").tobytes()
    return hashlib.sha256(data).hexdigest()


def make_tiles():
    os.makedirs("next", exist_ok=True)
    cases = [
        ("preprocess/src_37x23.png", 336),
        ("preprocess/src_500x333.png", 336),
        ("preprocess/src_64x400.png", 336),
        ("preprocess/src_336x336.png", 336),
        ("preprocess/src_1000x700.png", 336),
        ("resize/src_120x90.png", 56),
        ("preprocess/src_64x400.png", 56),
        ("preprocess/src_37x23.png", 56),
    ]
    expected = {}
    for src, tile in cases:
        with Image.open(src) as im:
            img = im.convert("RGB")
        pinpoints = scaled(V16, tile)
        best, inner, canvas, base, values = llava_next(img, pinpoints, tile)
        name = f"{os.path.basename(src)[4:-4]}_tile{tile}"
        Image.fromarray(canvas).save(f"next/{name}.canvas.png", optimize=True)
        Image.fromarray(base).save(f"next/{name}.base.png", optimize=True)
        n = values.shape[0]
        expected[name] = {
            "source": src, "tile": tile, "pinpoints": pinpoints,
            "image_size": [img.size[1], img.size[0]],
            "best_resolution": list(best), "resized": list(inner), "tiles": n,
            "tile_digests": [sha(">3i", (3, tile, tile), values[t]) for t in range(n)],
            "digest": sha(">6i", (n, 3, tile, tile, img.size[1], img.size[0]), values),
            "first_values": [float(v) for v in values.reshape(-1)[:4]],
            # The padding's value after normalisation, at the canvas' top-left when padded there.
            "pad_values": [float(-m / s) for m, s in
                           zip(np.array(MEAN, np.float32), np.array(STD, np.float32))],
        }
    with open("next/expected.json", "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def number_of_features(orig_height, orig_width, tile, patch, pinpoints):
    """processing_llava_next: _get_number_of_features and _get_unpadded_features for a CLIP tower
    (num_additional_image_tokens 1) with vision_feature_select_strategy "default"."""
    height_best_resolution, width_best_resolution = select_best_resolution(
        [orig_height, orig_width], pinpoints)
    scale_height, scale_width = height_best_resolution // tile, width_best_resolution // tile
    patches_height = tile // patch
    patches_width = tile // patch
    current_height = patches_height * scale_height
    current_width = patches_width * scale_width
    original_aspect_ratio = orig_width / orig_height
    current_aspect_ratio = current_width / current_height
    if original_aspect_ratio > current_aspect_ratio:
        new_height = int(round(orig_height * (current_width / orig_width), 7))
        padding = (current_height - new_height) // 2
        current_height -= padding * 2
    else:
        new_width = int(round(orig_width * (current_height / orig_height), 7))
        padding = (current_width - new_width) // 2
        current_width -= padding * 2
    unpadded_features, newline_features = current_height * current_width, current_height
    base_features = patches_height * patches_width + 1
    return unpadded_features + newline_features + base_features - 1


def num_patches(orig_height, orig_width, tile, pinpoints):
    """modeling_llava_next.image_size_to_num_patches."""
    height, width = select_best_resolution((orig_height, orig_width), pinpoints)
    n = 0
    for i in range(0, height, tile):
        for j in range(0, width, tile):
            n += 1
    return n + 1


def make_counts():
    sizes = [(1, 1), (17, 400), (400, 17), (336, 336), (480, 640), (640, 480), (768, 1024),
             (300, 2000), (2000, 300), (23, 37), (333, 500), (400, 64), (700, 1000),
             (1080, 1920), (1920, 1080), (336, 672), (672, 336), (336, 1008), (673, 335),
             (600, 800), (3000, 4000), (10, 10000), (10000, 10), (7, 3), (90, 120), (32, 48),
             (56, 56), (56, 112), (112, 56), (99, 101), (101, 99), (100, 100), (3, 1000)]
    rng = np.random.default_rng(2024)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 3001, 2))
        sizes.append((h, w))
    out = {}
    for key, tile, patch in [("llava-v1.6", 336, 14), ("tiny-next", 56, 14)]:
        pinpoints = scaled(V16, tile)
        out[key] = {
            "tile": tile, "patch": patch, "pinpoints": pinpoints,
            "sizes": [[h, w, number_of_features(h, w, tile, patch, pinpoints),
                       num_patches(h, w, tile, pinpoints)] for h, w in sizes],
        }
    with open("next/counts.json", "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    assert number_of_features(480, 640, 336, 14, V16) == 2340
    make_tiles()
    make_counts()
