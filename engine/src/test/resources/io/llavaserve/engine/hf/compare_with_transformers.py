#!/usr/bin/env python3
"""Compares llava-serve with Hugging Face transformers on one checkpoint folder.

For each case (a prompt with zero, one or two images) it runs the server's `inspect` and
`generate`, and transformers' processor and model class (float32), and compares:

- prompt ids: the server's (one image token per image) against transformers' input_ids with each
  run of image tokens collapsed to one, and each image's expanded count (the run length) against
  the server's positions (the length of its logits.npy);
- pixel_values and image_sizes (and batch_num_images for llava_onevision);
- the logits at every position of the expanded sequence (max abs diff, and that over the largest
  logit);
- 8 greedy tokens: transformers' generate, decoded, against the server's `generate --temperature 0`
  text.

Usage:
  python compare_with_transformers.py --jar web/target/llava-serve.jar --model DIR [--model DIR...]
      [--work /tmp/hf-compare] [--only-cases NAME,...] [--json report.json] [--llava-pad]
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

import transformers
from transformers import AutoTokenizer
from transformers.tokenization_utils_tokenizers import TokenizersBackend
from transformers import BaseVideoProcessor  # a placeholder class where torchvision is absent

# llava-1.5-hf's conversation format; the server renders a template-less checkpoint's prompt so
# (ChatTemplate.VICUNA_V1_JINJA), and transformers gets it as the chat template.
VICUNA_V1_JINJA = (
    "{% for message in messages %}"
    "{% if not loop.first and messages[loop.index0 - 1]['role'] != 'assistant' %}"
    "{{ ' ' }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ 'USER: ' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% if message['role'] == 'user' %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "{{ '<image>\\n' }}{% endif %}{% endfor %}{% endif %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% if not loop.first %}{{ ' ' }}{% endif %}{{ part['text'] }}{% endfor %}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '</s>' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{% if messages | length > 0 and messages[-1]['role'] != 'assistant' %}{{ ' ' }}{% endif %}"
    "{{ 'ASSISTANT:' }}{% endif %}"
)

# (width, height) of the images compared; each in RGB, and some also as RGBA, gray, gray+alpha,
# palette and 16-bit gray PNGs.
SIZES = [(1, 1), (17, 400), (336, 336), (640, 480), (1024, 768), (2000, 300), (300, 2000)]


def make_image(path, width, height, mode, seed):
    """A PNG with smooth gradients, a sharp edge and noise, so every resize step shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    fx = x / max(width - 1, 1)
    fy = y / max(height - 1, 1)
    rgb = np.stack(
        [
            255 * fx,
            255 * fy,
            127.5 + 127.5 * np.sin(6.283 * (fx * 3 + fy * 2)),
        ],
        axis=-1,
    )
    rgb[(x > width / 3) & (y < height / 2)] = [250, 20, 40]
    rgb += rng.normal(0, 25, rgb.shape)
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        alpha = np.clip(rng.normal(128, 80, (height, width)), 0, 255).astype(np.uint8)
        img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    elif mode == "L":
        img = img.convert("L")
    elif mode == "LA":
        alpha = np.clip(rng.normal(128, 80, (height, width)), 0, 255).astype(np.uint8)
        img = Image.fromarray(np.dstack([np.array(img.convert("L")), alpha]), "LA")
    elif mode == "P":
        img = img.quantize(64)
    elif mode == "I;16":
        # 16-bit gray: every 8-bit level v as v * 257 plus noise in the low byte
        gray = np.array(img.convert("L")).astype(np.uint16) * 257
        img = Image.fromarray(gray + rng.integers(0, 200, gray.shape, dtype=np.uint16))
    img.save(path)
    return path


def cases(workdir):
    """name -> list of image paths (a case with two images is a multi-image prompt)."""
    imgdir = os.path.join(workdir, "images")
    os.makedirs(imgdir, exist_ok=True)
    out = {"text": []}
    for i, (w, h) in enumerate(SIZES):
        out[f"{w}x{h}"] = [make_image(os.path.join(imgdir, f"{w}x{h}.png"), w, h, "RGB", i)]
    out["640x480-rgba"] = [make_image(os.path.join(imgdir, "640x480-rgba.png"), 640, 480, "RGBA", 11)]
    out["17x400-gray"] = [make_image(os.path.join(imgdir, "17x400-gray.png"), 17, 400, "L", 12)]
    out["300x2000-rgba"] = [make_image(os.path.join(imgdir, "300x2000-rgba.png"), 300, 2000, "RGBA", 13)]
    out["336x336-palette"] = [make_image(os.path.join(imgdir, "336x336-palette.png"), 336, 336, "P", 14)]
    out["1024x768-gray-alpha"] = [make_image(os.path.join(imgdir, "1024x768-la.png"), 1024, 768, "LA", 15)]
    out["640x480-gray16"] = [make_image(os.path.join(imgdir, "640x480-gray16.png"), 640, 480, "I;16", 16)]
    out["two:640x480+17x400"] = out["640x480"] + out["17x400"]
    out["two:1024x768+300x2000"] = out["1024x768"] + out["300x2000"]
    return out


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def model_class(config):
    arch = config["architectures"][0]
    return getattr(transformers, arch)


def build_processor(model_dir, config, llava_pad):
    """The processor llava-hf ships for the family, with the slow (PIL) image processor, and the
    flags the server needs to do the same.

    A CLIPImageProcessor config is where the two differ by design: the server pads images to a
    square of the mean colour first, as LLaVA-1.5 was trained (its image_aspect_ratio "pad"), and
    transformers' CLIPImageProcessor does not. By default the server gets --no-pad (llava-hf's
    steps); with llava_pad transformers gets LlavaImageProcessor(do_pad=True), its class for
    LLaVA's padding, and the server its default.

    processor_config.json gives patch_size, vision_feature_select_strategy and
    num_additional_image_tokens (1 for CLIP's class token, 0 for SigLIP); a folder without one
    (written before make-tiny wrote it) gets them from config.json, as llava-hf's converters do.
    """
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with open(os.path.join(model_dir, "tokenizer_config.json")) as f:
        tokenizer_class = json.load(f).get("tokenizer_class")
    if tokenizer_class == "LlamaTokenizer" and type(tokenizer).__name__ == "LlamaTokenizer":
        # make-tiny's qwen2-decoder presets ship LLaMA tokenizer files. transformers takes
        # tokenizer.json as it is for llava and llava_next (TokenizersBackend), but for other model
        # types LlamaTokenizer rebuilds its pre-tokenizer (Metaspace, legacy=False), which no real
        # checkpoint of those types meets; the file as it is is what the server reads.
        tokenizer = TokenizersBackend.from_pretrained(model_dir)
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        kind = json.load(f)["image_processor_type"].removesuffix("Fast")
    # The PIL backend (the slow processor: Pillow's resize, numpy's arithmetic).
    server_flags = []
    if kind == "CLIPImageProcessor" and llava_pad:
        image_processor = transformers.LlavaImageProcessorPil.from_pretrained(model_dir, do_pad=True)
    else:
        image_processor = getattr(transformers, kind + "Pil").from_pretrained(model_dir)
        if kind == "CLIPImageProcessor":
            server_flags = ["--no-pad"]
    # As the server: chat_template.json (where llava-hf ships it) over tokenizer_config.json's,
    # else llava-1.5's format.
    template = None
    p = os.path.join(model_dir, "chat_template.json")
    if os.path.exists(p):
        with open(p) as f:
            template = json.load(f).get("chat_template")
    if template is None:
        template = getattr(tokenizer, "chat_template", None) or VICUNA_V1_JINJA
    processor_json = {}
    p = os.path.join(model_dir, "processor_config.json")
    if os.path.exists(p):
        with open(p) as f:
            processor_json = json.load(f)
    vision = config.get("vision_config", {})
    tower = vision.get("model_type", "clip_vision_model")
    strategy = config.get("vision_feature_select_strategy", "default")
    mt = config["model_type"]
    if mt == "llava_onevision":
        side = vision.get("image_size", 384)
        patch = vision.get("patch_size", 14)
        num_image_tokens = processor_json.get("num_image_tokens", (side // patch) ** 2)
        proc = transformers.LlavaOnevisionProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            # LlavaOnevisionVideoProcessor needs torchvision; no video is processed here, and the
            # processor only checks the class of what stands in for it.
            video_processor=object.__new__(BaseVideoProcessor),
            num_image_tokens=num_image_tokens,
            vision_feature_select_strategy=processor_json.get("vision_feature_select_strategy", strategy),
            vision_aspect_ratio=processor_json.get("vision_aspect_ratio", config.get("vision_aspect_ratio", "anyres_max_9")),
            chat_template=template,
        )
    else:
        cls = transformers.LlavaNextProcessor if mt == "llava_next" else transformers.LlavaProcessor
        proc = cls(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=processor_json.get("patch_size", vision.get("patch_size", 14)),
            vision_feature_select_strategy=processor_json.get("vision_feature_select_strategy", strategy),
            num_additional_image_tokens=processor_json.get(
                "num_additional_image_tokens", 1 if tower == "clip_vision_model" else 0
            ),
            chat_template=template,
        )
    return proc, server_flags


def run_server(jar, model_dir, images, prompt, out, extra):
    cmd = ["java", "-jar", jar, "inspect", "--prompt", prompt, "--out", out]
    if model_dir:
        cmd += ["--model", model_dir]
    for i in images:
        cmd += ["--image", i]
    cmd += extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("inspect failed: " + r.stderr[-2000:])
    return r.stderr


def run_server_generate(jar, model_dir, images, prompt, n, extra):
    cmd = ["java", "-jar", jar, "generate", "--prompt", prompt,
           "--temperature", "0", "--max-tokens", str(n)]
    if model_dir:
        cmd += ["--model", model_dir]
    for i in images:
        cmd += ["--image", i]
    cmd += extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("generate failed: " + r.stderr[-2000:])
    text = r.stdout
    if text.endswith("\n"):
        text = text[:-1]
    return text, r.stderr


def collapse(ids, image_id):
    """ids with each run of image_id reduced to one, and the run lengths."""
    out, runs = [], []
    for t in ids:
        if t == image_id and out and out[-1] == image_id and runs[-1][1]:
            runs[-1][0] += 1
            continue
        out.append(t)
        if t == image_id:
            runs.append([1, True])
        elif runs:
            runs[-1][1] = False
    return out, [r[0] for r in runs]


def compare_case(args, name, model, proc, server_flags, config, images, workdir, server_model_dir):
    image_id = config.get("image_token_index", config.get("image_token_id", 32000))
    pil = [Image.open(p) for p in images]
    content = [{"type": "image"} for _ in images] + [{"type": "text", "text": args.prompt}]
    messages = [{"role": "user", "content": content}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    kwargs = {}
    if pil:
        if config["model_type"] == "llava_onevision":
            kwargs["images"] = [pil]  # one prompt's images: batch_num_images = [len(pil)]
        else:
            kwargs["images"] = pil
    inputs = proc(text=[text], return_tensors="pt", **kwargs)
    row = {"case": name, "images": [os.path.basename(p) for p in images]}

    out = os.path.join(workdir, "server", name.replace(":", "_").replace("+", "_"))
    os.makedirs(out, exist_ok=True)
    flags = server_flags + args.server_flag
    run_server(args.jar, server_model_dir, images, args.prompt, out, flags)
    with open(os.path.join(out, "prompt_ids.json")) as f:
        server_ids = json.load(f)
    hf_ids = inputs["input_ids"][0].tolist()
    collapsed, runs = collapse(hf_ids, image_id)
    server_logits = np.load(os.path.join(out, "logits.npy"))
    row["ids_equal"] = collapsed == server_ids
    if not row["ids_equal"]:
        row["ids_server"] = server_ids
        row["ids_hf"] = collapsed
    row["positions_hf"] = len(hf_ids)
    row["positions_server"] = int(server_logits.shape[0])
    row["image_runs_hf"] = runs

    if pil:
        sp = np.load(os.path.join(out, "pixel_values.npy"))
        hp = inputs["pixel_values"].numpy().astype(np.float32)
        row["pixel_shape_hf"] = list(hp.shape)
        row["pixel_shape_server"] = list(sp.shape)
        if sp.shape == hp.shape:
            d = np.abs(sp - hp)
            row["pixel_max_diff"] = float(d.max())
            # one 8-bit level after normalisation: rescale / std
            std = np.array(proc.image_processor.image_std, dtype=np.float32)
            level = float((1.0 / 255) / std.min())
            row["pixel_levels_max"] = float(d.max() / level)
        else:
            row["pixel_max_diff"] = None
        if "image_sizes" in inputs:
            with open(os.path.join(out, "image_sizes.json")) as f:
                row["image_sizes_equal"] = json.load(f) == inputs["image_sizes"].tolist()
        if "batch_num_images" in inputs:
            with open(os.path.join(out, "batch_num_images.json")) as f:
                bni = json.load(f)
            row["batch_num_images_equal"] = bni == torch.as_tensor(inputs["batch_num_images"]).reshape(-1).tolist()

    with torch.no_grad():
        hf_logits = model(**inputs).logits[0].float().numpy()
    if hf_logits.shape == server_logits.shape:
        d = np.abs(hf_logits - server_logits)
        row["logit_max_diff"] = float(d.max())
        row["logit_rel"] = float(d.max() / np.abs(hf_logits).max())
        row["argmax_agree"] = float((hf_logits.argmax(-1) == server_logits.argmax(-1)).mean())
    else:
        row["logit_max_diff"] = None
        row["logit_shapes"] = [list(hf_logits.shape), list(server_logits.shape)]

    if args.generate and row.get("logit_max_diff") is not None:
        with torch.no_grad():
            gen = model.generate(**inputs, max_new_tokens=args.generate, do_sample=False)
        new = gen[0, inputs["input_ids"].shape[1]:].tolist()
        hf_text = proc.tokenizer.decode(new, skip_special_tokens=True)
        server_text, _ = run_server_generate(
            args.jar, server_model_dir, images, args.prompt, args.generate, flags)
        row["gen_ids_hf"] = new
        row["gen_equal"] = hf_text == server_text
        if not row["gen_equal"]:
            row["gen_hf"] = hf_text
            row["gen_server"] = server_text

    return row


def ok(row, tol):
    good = row["ids_equal"] and row["positions_hf"] == row["positions_server"]
    if "pixel_max_diff" in row:
        good = good and row["pixel_max_diff"] is not None and row["pixel_levels_max"] <= 1.0001
    good = good and row.get("image_sizes_equal", True) and row.get("batch_num_images_equal", True)
    good = good and row["logit_max_diff"] is not None and row["logit_rel"] <= tol
    return good and row.get("gen_equal", True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jar", required=True)
    ap.add_argument("--model", action="append", required=True,
                    help="checkpoint folder; 'embedded' for the built-in model (unpacked under --work)")
    ap.add_argument("--prompt", default="What is shown in this image?")
    ap.add_argument("--work", default="/tmp/hf-compare")
    ap.add_argument("--only-cases", default=None, help="comma-separated case names")
    ap.add_argument("--generate", type=int, default=8, help="greedy tokens to compare; 0 skips")
    ap.add_argument("--tol", type=float, default=1e-4, help="max |logit diff| / max |logit|")
    ap.add_argument("--llava-pad", action="store_true",
                    help="CLIPImageProcessor checkpoints: compare LLaVA-1.5's pad to square (the"
                         " server's default; LlavaImageProcessor(do_pad=True)) instead of llava-hf's"
                         " CLIPImageProcessor (the server with --no-pad)")
    ap.add_argument("--server-flag", action="append", default=[],
                    help="extra flag for inspect and generate, e.g. --server-flag=--kernels=graph")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.work, exist_ok=True)
    all_cases = cases(args.work)
    names = args.only_cases.split(",") if args.only_cases else list(all_cases)
    report = []
    failed = 0
    for model_dir in args.model:
        server_model_dir = model_dir
        if model_dir == "embedded":
            home = os.path.join(args.work, "home")
            os.environ["LLAVA_SERVE_HOME"] = home
            run_server(args.jar, None, [], "hi", os.path.join(args.work, "server", "unpack"), [])
            model_dir = [os.path.join(home, "models", d) for d in os.listdir(os.path.join(home, "models"))][0]
            server_model_dir = None
        config = load_config(model_dir)
        proc, server_flags = build_processor(model_dir, config, args.llava_pad)
        model = model_class(config).from_pretrained(model_dir, dtype=torch.float32).eval()
        label = os.path.basename(os.path.normpath(model_dir))
        work = os.path.join(args.work, label + ("-llava-pad" if args.llava_pad else ""))
        print(f"== {label}: {config['model_type']}, {config.get('vision_config', {}).get('model_type', 'clip_vision_model')}"
              f" + {config['text_config'].get('model_type')}, image processor {type(proc.image_processor).__name__},"
              f" tokenizer {type(proc.tokenizer).__name__}, server flags {server_flags + args.server_flag}",
              flush=True)
        for name in names:
            try:
                row = compare_case(args, name, model, proc, server_flags, config, all_cases[name], work,
                                   server_model_dir)
            except Exception as e:  # one case's failure is reported, the others still run
                row = {"case": name, "error": repr(e)[-1500:]}
            row["model"] = label
            good = "error" not in row and ok(row, args.tol)
            failed += 0 if good else 1
            report.append(row)
            summary = {k: v for k, v in row.items() if k not in ("model",)}
            print(("ok   " if good else "FAIL ") + json.dumps(summary), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(f"{len(report) - failed} of {len(report)} cases agree")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
