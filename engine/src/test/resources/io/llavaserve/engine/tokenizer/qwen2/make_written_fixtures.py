#!/usr/bin/env python3
"""Reference ids, decodes and chat prompts for the Qwen2 tokenizers that make-tiny writes.

Usage:
  python make_written_fixtures.py ONEVISION_DIR SIGLIP_QWEN2_DIR

where the folders were written by `llava-serve make-tiny --preset onevision` and
`--preset siglip-qwen2`. Loads each with transformers' AutoTokenizer (Qwen2Tokenizer for
llava_onevision, TokenizersBackend for llava, as transformers picks them for the real
llava-onevision-qwen2 and llava-interleave-qwen folders) and writes written_fixtures.json next to
this script: the classes and special ids transformers sees, generation_config.json's ids, the ids
of several hundred texts, decodes of random id sequences, and chat prompts rendered by the
tokenizer's template and by the processor's (chat_template.json).

Needs transformers (5.x) and tokenizers. Deterministic for the same folders.
"""
import hashlib
import json
import os
import random
import sys

from transformers import AutoConfig, AutoTokenizer, GenerationConfig

HERE = os.path.dirname(os.path.abspath(__file__))


def texts():
    rng = random.Random(5)
    out = [
        "", " ", "  ", "\n", "\n\n", "\r\n", " \n ", "\t", "\t\t x", "a", "A", "hello", " hello",
        "hello ", "Hello world", "Hello  world", "Hello   world   ", "What is shown in this image?",
        "It's, I'm, you're, they've, we'll, he'd, IT'S, I'M, YOU'RE, THEY'VE, WE'LL, HE'D, it'S",
        "don't can't won't shouldn't", "'s 's' ''s", "123", "1234567890", "3.14159", "-42", "1e10",
        "0xFF", "2024-05-17 12:34:56", "$1,234.56", "version 1.2.3-rc4",
        "你好，世界！", "图像中有一个红色的圆形。", "日本語のテキスト", "한국어 문장", "Привет, мир!",
        "Καλημέρα", "مرحبا بالعالم", "नमस्ते दुनिया", "Café", "Cafe\u0301", "e\u0301\u0301", "Å Å",
        "ﬁ ligature", "😀", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪🇫🇷", "🎉🎉🎉 party", "a😀b",
        "\u200b\u200d", "\u00a0nbsp\u00a0", "def f(x):\n    return x * 2\n",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "<div class=\"row\">text</div>",
        "SELECT * FROM t WHERE a >= 1;", "x=>x+1", "a->b", "a::b", "#include <stdio.h>",
        "    \n    \n", "\n\n\n\n", "<image>", "<image>\n", " <image> ", "<image><image>",
        "text<image>text", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<video>",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\n<image>\nWhat is this?<|im_end|>\n", "<|im_sta", "<|im_start",
        "<|im_end|x", "< image>", "<IMAGE>", "<image", "image>", "USER: <image>\nWhat ASSISTANT:",
        "trailing spaces   ", "   leading spaces", "mixed \t\n whitespace \r\n\r\n end", "!!!???...",
        "—–-", "«quotes» “curly” ‘single’", "~`@#$%^&*()_+-=[]{}|;':\",./<>?", "\u0000\u0001\u001f",
        "\x7f", "\ufeffbom", "\U0001F600\U0001F601", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Ⅷ Ⅸ ½ ²",
    ]
    words = [
        "the", "image", "shows", "a", "red", "circle", "Qwen2", "token", "llava", "ONEVISION",
        "über", "naïve", "東京", "москва", "42", "3.5", "😀", "\t", "  ", "\n", "it's", "YOU'LL",
        "<image>", "<|im_end|>", "<|im_start|>", "<video>", "x_y", "foo.bar()", "λ", "ـــ", "٣٤٥",
        "ß", "İ", "ǅ", "    return", "}\n", "\r\n",
    ]
    seps = [" ", "", "  ", "\n", ", ", ". ", "\t", "\r\n", "   "]
    for _ in range(260):
        out.append("".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(1, 12))))
    blocks = [
        (0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x4E00, 0x4FFF),
        (0x3040, 0x30FF), (0xAC00, 0xAC80), (0x600, 0x6FF), (0x1F300, 0x1F64F), (0x2000, 0x206F),
        (0x300, 0x36F),
    ]
    for _ in range(40):
        out.append(
            "".join(chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(1, 20)))
        )
    return out


def chats():
    """(messages, add_generation_prompt) pairs; every content a list of parts."""
    def user(*parts):
        return {"role": "user", "content": list(parts)}

    def text(t):
        return {"type": "text", "text": t}

    image = {"type": "image"}
    out = [
        ([user(text("Hello!"))], True),
        ([user(text("Hello!"))], False),
        ([user(image, text("What is shown in this image?"))], True),
        ([user(text("Compare."), image, image)], True),
        ([user(image, text("Two parts: "), text("one, two."))], True),
        ([{"role": "system", "content": [text("You are terse.")]}, user(image, text("Why?"))], True),
        (
            [
                user(image, text("What colour is it?")),
                {"role": "assistant", "content": [text("Red.")]},
                user(text("And the shape?  \n")),
            ],
            True,
        ),
        ([user(text("你好 😀 <b>bold</b>\r\n\tcode"))], True),
        ([user(text("Spaces   and\n\nlines")), {"role": "assistant", "content": [text("ok")]}], False),
    ]
    return out


def as_strings(messages):
    """The same messages with each content a plain string (images dropped), where possible."""
    out = []
    for m in messages:
        if any(p["type"] != "text" for p in m["content"]):
            return None
        out.append({"role": m["role"], "content": "".join(p["text"] for p in m["content"])})
    return out


def fixtures(folder):
    tok = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    generation = GenerationConfig.from_pretrained(folder)
    with open(os.path.join(folder, "tokenizer.json"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    processor_template = None
    if os.path.exists(os.path.join(folder, "chat_template.json")):
        with open(os.path.join(folder, "chat_template.json"), encoding="utf-8") as f:
            processor_template = json.load(f)["chat_template"]

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    out = {
        "tokenizer_sha256": digest,
        "tokenizer_class": type(tok).__name__,
        "len": len(tok),
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "special_ids": {
            s: tok.convert_tokens_to_ids(s) for s in specials if s in tok.get_vocab()
        },
        "image_token_id": config.image_token_id,
        "video_token_id": getattr(config, "video_token_id", None),
        "generation_eos_token_id": generation.eos_token_id,
        "generation_pad_token_id": generation.pad_token_id,
    }
    out["encodes"] = [{"text": t, "ids": tok(t).input_ids} for t in texts()]

    rng = random.Random(17)
    n = len(tok)
    special_ids = list(out["special_ids"].values())
    decodes = []
    for _ in range(150):
        ids = [
            rng.choice(special_ids) if rng.random() < 0.1 else rng.randrange(n)
            for _ in range(rng.randint(1, 25))
        ]
        decodes.append(
            {
                "ids": ids,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skipping_special": tok.decode(ids, skip_special_tokens=True),
            }
        )
    out["decodes"] = decodes

    rendered = []
    for messages, generation_prompt in chats():
        for template_name, template in (("tokenizer", None), ("processor", processor_template)):
            if template_name == "processor" and template is None:
                continue
            variants = [messages]
            strings = as_strings(messages)
            if template_name == "tokenizer" and strings is not None:
                variants.append(strings)
            for variant in variants:
                prompt = tok.apply_chat_template(
                    variant,
                    chat_template=template,
                    add_generation_prompt=generation_prompt,
                    tokenize=False,
                )
                rendered.append(
                    {
                        "template": template_name,
                        "messages": variant,
                        "add_generation_prompt": generation_prompt,
                        "prompt": prompt,
                        "ids": tok(prompt, add_special_tokens=False).input_ids,
                    }
                )
    out["chats"] = rendered
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    result = {"onevision": fixtures(sys.argv[1]), "siglip-qwen2": fixtures(sys.argv[2])}
    with open(os.path.join(HERE, "written_fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
