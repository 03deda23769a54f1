#!/usr/bin/env python3
"""Trains a small byte-level BPE tokenizer and writes it in Qwen2's tokenizer.json format.

No real Qwen2 tokenizer can be downloaded where the tests run, so this writes one with the same
structure (NFC normalizer, Split(Qwen2 regex, Isolated) + ByteLevel pre-tokenizer, ByteLevel
decoder and post-processor, GPT-2 byte alphabet, BPE merges, Qwen2's added tokens plus LLaVA's
<image>/<video>) and a vocabulary of 256 bytes + MERGES merges learned on a generated corpus.

Writes, next to this script:
  tokenizer.json, tokenizer_config.json          Qwen2 layout, merges as "a b" strings
  flags/tokenizer.json, flags/tokenizer_config.json
      the same vocabulary with merges as ["a", "b"] pairs, ignore_merges, a TemplateProcessing
      post-processor with a BOS, and added tokens exercising lstrip/rstrip/single_word/normalized

Deterministic: running it again gives the same files. Needs python3 and the `regex` module.
"""
import collections
import json
import random
import os
import unicodedata

import regex

MERGES = 3000
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
HERE = os.path.dirname(os.path.abspath(__file__))


def bytes_to_unicode():
    """GPT-2's byte alphabet: printable bytes stand for themselves, the rest move to 256+."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]


def corpus():
    english = [
        "The quick brown fox jumps over the lazy dog.",
        "She said it's fine, but they'll see what we've done and I'm sure you'd agree.",
        "A red circle is to the left of a blue square; the green triangle is above both.",
        "How many shapes are in the image? Answer the question using a single word or phrase.",
        "USER: <image>\nWhat is in the picture? ASSISTANT: A small yellow star.",
        "Continuous batching packs the prefill and decode tokens of many requests together.",
        "The key-value cache is split into blocks of sixteen tokens each.",
        "In 2024 the model was trained on 1,234,567 examples for 3.5 epochs at lr=2e-5.",
        "Don't DON'T Can't WON'T we're WE'RE they've THEY'VE I'll I'LL he'd HE'D it's IT'S",
        "Hello, world! Hello world!! hello-world hello_world HelloWorld",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    ]
    code = [
        "def encode(self, text: str) -> list[int]:\n    return [self.vocab[t] for t in text]\n",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}\n",
        'public static void main(String[] args) { System.out.println("hi"); }\r\n',
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
        "if x == 0:\n        print('zero')\n    elif x < 0:\n        pass\n",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
        "<div class=\"row\"><span>text</span></div>  // comment\n/* block */",
    ]
    other = [
        "你好，世界！今天天气很好。我们一起去公园散步吧。",
        "图像中有一个红色的圆形和一个蓝色的正方形。",
        "日本語のテキストも少し入れます。ひらがなとカタカナと漢字。",
        "한국어 문장도 조금 넣습니다.",
        "Привет, мир! Как дела? Всё хорошо.",
        "Καλημέρα κόσμε. Ελληνικά γράμματα.",
        "مرحبا بالعالم. هذه جملة عربية.",
        "Café crème, naïve façade, résumé, jalapeño, Zürich, São Paulo, Ångström.",
        "Emoji: 😀 😃 👍🏽 ❤️ 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪 🎉🎉",
        "Numbers 0123456789 ٣٤٥ ⅧⅨ ½ ² 3.14159 -42 +7 1e10 0xFF",
        "Tabs\tand\t\tmany    spaces   and\r\nwindows\r\nlines\n\n\nblank",
    ]
    lines = []
    for i in range(40):
        lines.extend(english)
    for i in range(15):
        lines.extend(code)
    for i in range(8):
        lines.extend(other)
    for i in range(300):
        lines.append(f"{i} {i * 37 % 1000} item_{i} value={i / 7:.3f}")
    # Pseudo-words in several scripts, so that there are enough distinct pairs to learn merges.
    rng = random.Random(11)
    latin = ["ka", "to", "ri", "men", "sha", "lo", "ver", "in", "qu", "est", "an", "th", "ing"]
    cyrillic = ["ра", "но", "ст", "ви", "ко", "ль", "пр", "ен"]
    for i in range(3000):
        n = rng.randint(1, 4)
        word = "".join(rng.choice(latin) for _ in range(n))
        if i % 5 == 0:
            word = word.capitalize()
        if i % 7 == 0:
            word = "".join(rng.choice(cyrillic) for _ in range(n))
        if i % 11 == 0:
            word = "".join(chr(0x4E00 + rng.randint(0, 400)) for _ in range(n))
        lines.append(word + rng.choice([" ", ", ", ". ", "\n", "  ", ": "]))
    return "\n".join(lines)


def train(text, merges_wanted):
    byte_encoder_keys, chars = bytes_to_unicode()
    byte_to_char = dict(zip(byte_encoder_keys, chars))
    words = collections.Counter()
    for piece in regex.findall(QWEN2_PATTERN, unicodedata.normalize("NFC", text)):
        words["".join(byte_to_char[b] for b in piece.encode("utf-8"))] += 1
    splits = {w: list(w) for w in words}
    merges = []
    for _ in range(merges_wanted):
        pairs = collections.Counter()
        for w, count in words.items():
            s = splits[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        # Most frequent; ties to the lexicographically smallest pair, for determinism.
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        merged = best[0] + best[1]
        for w, s in splits.items():
            if len(s) < 2:
                continue
            out = []
            i = 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            splits[w] = out
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def added(id_, content, special=True, normalized=False, lstrip=False, rstrip=False, single=False):
    return {
        "id": id_,
        "content": content,
        "single_word": single,
        "lstrip": lstrip,
        "rstrip": rstrip,
        "normalized": normalized,
        "special": special,
    }


def byte_level():
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}


def tokenizer_json(vocab, merges, added_tokens, post_processor, pair_merges, ignore_merges):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": QWEN2_PATTERN},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level(),
            ],
        },
        "post_processor": post_processor,
        "decoder": byte_level(),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": ignore_merges,
            "vocab": vocab,
            "merges": [[a, b] if pair_merges else a + " " + b for a, b in merges],
        },
    }


def config_json(added_tokens, bos, eos, pad, extra):
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added_tokens
        },
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": bos,
        "chat_template": (
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'"
            " + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        ),
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": pad,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
        **extra,
    }


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def main():
    vocab, merges = train(corpus(), MERGES)
    n = len(vocab)
    # Qwen2's own added tokens (endoftext, im_start, im_end, then the rest special except the
    # tool-call ones), then LLaVA-OneVision's <image> and <video>.
    qwen2 = [
        added(n, "<|endoftext|>"),
        added(n + 1, "<|im_start|>"),
        added(n + 2, "<|im_end|>"),
        added(n + 3, "<|object_ref_start|>"),
        added(n + 4, "<|box_start|>"),
        added(n + 5, "<|vision_pad|>"),
        added(n + 6, "<tool_call>", special=False),
        added(n + 7, "</tool_call>", special=False),
        added(n + 8, "<|fim_prefix|>", special=False),
        added(n + 9, "<image>"),
        added(n + 10, "<video>"),
    ]
    write(
        os.path.join(HERE, "tokenizer.json"),
        tokenizer_json(vocab, merges, qwen2, byte_level(), pair_merges=False, ignore_merges=False),
    )
    write(
        os.path.join(HERE, "tokenizer_config.json"),
        config_json(qwen2, None, "<|im_end|>", "<|endoftext|>", {}),
    )

    m = len(qwen2) + n
    flags = qwen2 + [
        added(m, "<|bos|>"),
        added(m + 1, "<mask>", lstrip=True),
        added(m + 2, "<sep>", rstrip=True),
        added(m + 3, "<both>", special=False, lstrip=True, rstrip=True),
        added(m + 4, "hello", special=False, single=True),
        # Matched after NFC; written with a character outside the byte alphabet, so that HF's
        # ByteLevel decoder gives its UTF-8 back (an added token written only in byte symbols,
        # such as "café", would be decoded as the bytes those symbols stand for).
        added(m + 5, "\u01d8ber", special=False, normalized=True),
        added(m + 6, "<|im", special=False),
        added(m + 7, "\u00a0nbsp", special=False),
    ]
    template = {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<|bos|>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
        ],
        "pair": [
            {"SpecialToken": {"id": "<|bos|>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [m], "tokens": ["<|bos|>"]}},
    }
    write(
        os.path.join(HERE, "flags", "tokenizer.json"),
        tokenizer_json(vocab, merges, flags, template, pair_merges=True, ignore_merges=True),
    )
    write(
        os.path.join(HERE, "flags", "tokenizer_config.json"),
        config_json(flags, "<|bos|>", "<|endoftext|>", "<|endoftext|>", {}),
    )


if __name__ == "__main__":
    main()
