#!/usr/bin/python3
"""Writes the LLaVA-OneVision fixtures: LlavaOnevisionImageProcessor's tiles (a prompt's lone image)
and its one-tile path (an image among several), the per-size token counts, and reductions by
torch.nn.functional.interpolate, computed here independently with numpy, Pillow and torch from
transformers' definitions (image_processing_llava_onevision, processing_llava_onevision,
modeling_llava_onevision).

Run with Debian's python (apt-get install python3-pil python3-numpy python3-torch) from this
directory:
    /usr/bin/python3 make_onevision_fixtures.py
It reads the sources make_fixtures.py wrote (preprocess/src_*.png, resize/src_120x90.png) and
writes onevision/. Generated with Pillow 9.4.0, numpy 1.24.2 and torch 1.13.

onevision/expected.json  per case: the source, the tile size and pinpoints, whether the image is
                    alone in its prompt (then tiled: select_best_resolution, get_patch_output_size,
                    zero padding, tiles row-major after the base image resized straight to the
                    tile) or one of several (padded to a square of int(mean * 255) = 127 and
                    resized to one tile), the tile count, the SHA-256 of each tile's float32
                    values and of the whole value as PixelValues.digest hashes it (header >6i:
                    tiles, 3, H, W, image height, image width), and the first values.
onevision/CASE.canvas.png  a lone image: resized and padded centred with zeros to the chosen
                    resolution, 8-bit, before normalisation; the grid tiles are cut from it.
onevision/CASE.base.png    a lone image: resized straight to the base tile (bicubic);
                    an image among several: its one tile, padded to a square and resized.
onevision/counts.json  positions per image size for llava-onevision-qwen2-0.5b-ov-hf (384 px
                    tiles in 14 px patches, 729 features a tile, the 36 pinpoints, anyres_max_9)
                    and for the tiny preset (60 px tiles, 16 features), by
                    LlavaOnevisionProcessor._get_number_of_features with the "full" strategy, the
                    tile counts of image_size_to_num_patches, and the size the un-padded map is
                    packed at (pack_image_features).
onevision/bilinear.json  F.interpolate(mode="bilinear") of [1, C, H, W] maps of exactly
                    representable values v[c][y][x] = (y^2 + 2 x^2 + x y + 5 c) / 4096 (curved,
                    so that the neighbours and weights chosen matter, and smooth, so that the last
                    bits of a source index do not) to the sizes pack_image_features reduces real
                    layouts to. torch 1.13 computes the source index in double from a float scale;
                    torch 2 in float (opmath): the two differ by an ulp of the index, under 1e-6
                    here.
"""
import hashlib
import json
import math
import os
import struct

import numpy as np
import torch
from PIL import Image

MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]
RESCALE = 0.00392156862745098
ANYRES_MAX = 9


def pinpoints_at(tile):
    """LlavaOnevisionConfig's default image_grid_pinpoints, 384 px scaled to tile."""
    return [[h * tile, w * tile] for h in range(1, 7) for w in range(1, 7)]


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


def onevision_steps(arr, size):
    """_preprocess on one uint8 tile: resize straight to size x size (a no-op on a tile already that
    size, as PIL returns a copy), rescale (float64, then float32), normalise (float32), as CHW."""
    if arr.shape[0] != size or arr.shape[1] != size:
        arr = np.array(Image.fromarray(arr).resize((size, size), resample=Image.BICUBIC))
    x = (arr.astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def lone_image(img, pinpoints, tile):
    """LlavaOnevisionImageProcessor.preprocess for a prompt's only image (need_patching):
    get_image_patches, then _preprocess on each patch."""
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
    tiles = [onevision_steps(t, tile) for t in [base] + patches]
    return best, (new_h, new_w), padded, base, np.stack(tiles)


def image_among_several(img, tile):
    """The same for an image of a prompt with several (no patching): pad_to_square with
    background_color tuple(int(x * 255) for x in image_mean), then _preprocess's resize."""
    arr = np.array(img)
    height, width = arr.shape[:2]
    color = [int(x * 255) for x in MEAN]
    if height != width:
        side = max(height, width)
        result = np.zeros((side, side, 3), dtype=arr.dtype)
        for i, c in enumerate(color):
            result[:, :, i] = c
        if width > height:
            start = (side - height) // 2
            result[start : start + height, :, :] = arr
        else:
            start = (side - width) // 2
            result[:, start : start + width, :] = arr
        arr = result
    one = np.array(Image.fromarray(arr).resize((tile, tile), resample=Image.BICUBIC))
    return one, np.stack([onevision_steps(one, tile)])


def sha(header_fmt, header, values):
    data = struct.pack(header_fmt, *header) + values.astype(">f4").tobytes()
    return hashlib.sha256(data).hexdigest()


def make_tiles():
    os.makedirs("onevision", exist_ok=True)
    cases = [
        ("preprocess/src_1000x700.png", 384, True),
        ("preprocess/src_500x333.png", 384, True),
        ("preprocess/src_64x400.png", 384, True),
        ("preprocess/src_37x23.png", 384, True),
        ("preprocess/src_336x336.png", 384, True),
        ("resize/src_120x90.png", 60, True),
        ("preprocess/src_64x400.png", 60, True),
        ("preprocess/src_37x23.png", 60, True),
        ("preprocess/src_500x333.png", 384, False),
        ("preprocess/src_64x400.png", 384, False),
        ("preprocess/src_336x336.png", 384, False),
        ("resize/src_120x90.png", 60, False),
    ]
    expected = {}
    for src, tile, alone in cases:
        with Image.open(src) as im:
            img = im.convert("RGB")
        pinpoints = pinpoints_at(tile)
        name = f"{os.path.basename(src)[4:-4]}_tile{tile}_{'alone' if alone else 'several'}"
        case = {"source": src, "tile": tile, "pinpoints": pinpoints, "alone": alone,
                "image_size": [img.size[1], img.size[0]]}
        if alone:
            best, inner, canvas, base, values = lone_image(img, pinpoints, tile)
            Image.fromarray(canvas).save(f"onevision/{name}.canvas.png", optimize=True)
            case["best_resolution"] = list(best)
            case["resized"] = list(inner)
        else:
            base, values = image_among_several(img, tile)
        Image.fromarray(base).save(f"onevision/{name}.base.png", optimize=True)
        n = values.shape[0]
        case.update({
            "tiles": n,
            "tile_digests": [sha(">3i", (3, tile, tile), values[t]) for t in range(n)],
            "digest": sha(">6i", (n, 3, tile, tile, img.size[1], img.size[0]), values),
            "first_values": [float(v) for v in values.reshape(-1)[:4]],
        })
        expected[name] = case
    with open("onevision/expected.json", "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def unpadded_and_packed(orig_height, orig_width, patches, scale_height, scale_width):
    """processing_llava_onevision._get_unpadded_features, also returning the sizes: the un-padded
    map, and the map pack_image_features packs after its bilinear reduction."""
    current_height = patches * scale_height
    current_width = patches * scale_width
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
    unpadded = (current_height, current_width)
    unpadded_features = current_height * current_width
    newline_features = current_height
    packed = unpadded
    max_num_patches = int(f"anyres_max_{ANYRES_MAX}".strip("anyres_max_"))
    ratio = math.sqrt(current_height * current_width / (max_num_patches * patches**2))
    if ratio > 1.1:
        unpadded_features = int(current_height // ratio) * int(current_width // ratio)
        newline_features = int(current_height // ratio)
        packed = (int(current_height // ratio), int(current_width // ratio))
    return unpadded_features, newline_features, unpadded, packed


def number_of_features(orig_height, orig_width, tile, patch, pinpoints):
    """LlavaOnevisionProcessor._get_number_of_features for a SigLIP tower ("full": every patch)."""
    height_best_resolution, width_best_resolution = select_best_resolution(
        [orig_height, orig_width], pinpoints)
    scale_height, scale_width = height_best_resolution // tile, width_best_resolution // tile
    num_image_tokens = (tile // patch) ** 2
    patches = int(math.sqrt(num_image_tokens))
    unpadded, newlines, kept, packed = unpadded_and_packed(
        orig_height, orig_width, patches, scale_height, scale_width)
    return unpadded + newlines + num_image_tokens, kept, packed


def num_patches(orig_height, orig_width, tile, pinpoints):
    """modeling_llava_onevision.image_size_to_num_patches."""
    height, width = select_best_resolution((orig_height, orig_width), pinpoints)
    n = 0
    for i in range(0, height, tile):
        for j in range(0, width, tile):
            n += 1
    return n + 1


def sizes_to_count():
    sizes = [(1, 1), (400, 17), (17, 400), (384, 384), (480, 640), (640, 480), (768, 1024),
             (1024, 768), (300, 2000), (2000, 300), (4000, 4000), (23, 37), (333, 500),
             (400, 64), (700, 1000), (1080, 1920), (1920, 1080), (384, 768), (768, 384),
             (2304, 2304), (2305, 2303), (1, 10000), (10000, 1), (7, 3), (90, 120), (60, 60),
             (899, 1024), (1152, 1152), (1153, 1151), (3000, 4000), (100, 100), (3, 1000)]
    rng = np.random.default_rng(2025)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 5001, 2))
        sizes.append((h, w))
    return sizes


def make_counts():
    out = {}
    for key, tile, patch in [("onevision-0.5b", 384, 14), ("tiny-onevision", 60, 14)]:
        pinpoints = pinpoints_at(tile)
        rows = []
        for h, w in sizes_to_count():
            positions, kept, packed = number_of_features(h, w, tile, patch, pinpoints)
            rows.append([h, w, positions, num_patches(h, w, tile, pinpoints), list(kept),
                         list(packed)])
        out[key] = {
            "tile": tile, "patch": patch, "pinpoints": pinpoints, "anyres_max": ANYRES_MAX,
            # An image of a prompt with several: num_image_tokens + 1 (one image_newline).
            "among_several": (tile // patch) ** 2 + 1,
            "sizes": rows,
        }
    with open("onevision/counts.json", "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")


def make_bilinear():
    shapes = set()
    for key, tile, patch in [("onevision-0.5b", 384, 14), ("tiny-onevision", 60, 14)]:
        for h, w in [(4000, 4000), (768, 1024), (300, 2000), (2000, 300), (899, 1024),
                     (1080, 1920), (1920, 1080), (700, 1000), (1000, 3000)]:
            _, kept, packed = number_of_features(h, w, tile, patch, pinpoints_at(tile))
            if kept != packed:
                shapes.add((kept[0], kept[1], packed[0], packed[1]))
    shapes.update([(5, 7, 3, 4), (9, 9, 8, 8), (17, 6, 6, 2)])
    cases = []
    for ih, iw, oh, ow in sorted(shapes):
        channels = 2 if ih * iw <= 10000 else 1
        c, y, x = np.meshgrid(np.arange(channels), np.arange(ih), np.arange(iw), indexing="ij")
        values = ((y * y + 2 * x * x + x * y + 5 * c) / 4096.0).astype(np.float32)
        out = torch.nn.functional.interpolate(
            torch.from_numpy(values)[None], [oh, ow], mode="bilinear")[0].numpy()
        cases.append({"channels": channels, "in": [ih, iw], "out": [oh, ow],
                      # 9 significant digits give each float32 back exactly.
                      "values": [float("%.9g" % v) for v in out.reshape(-1)]})
    with open("onevision/bilinear.json", "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None,
                  separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    # llava-onevision-qwen2-0.5b-ov-hf on the conversion script's 1024 x 899 image: 3 x 3 tiles,
    # the 81 x 81 map un-padded to 71 x 81 (within 1.1 of 9 tiles' worth): 729 + 71 * 81 + 71.
    assert number_of_features(899, 1024, 384, 14, pinpoints_at(384))[0] == 6551
    # A 4000 x 4000 image: 6 x 6 tiles, 162 x 162 reduced by 2 to 81 x 81: 729 + 81 * 81 + 81.
    assert number_of_features(4000, 4000, 384, 14, pinpoints_at(384))[0] == 7371
    make_tiles()
    make_counts()
    make_bilinear()
