// Encodes and decodes a corpus with Hugging Face's JavaScript tokenizers (tokenizers.js, the
// tokenizer of transformers.js) and writes the results as fixtures for ByteLevelBpeTokenizerTest.
//
//   mkdir -p /tmp/tokjs && cd /tmp/tokjs && npm install --ignore-scripts @huggingface/tokenizers
//   TOKJS=/tmp/tokjs node make_fixtures.mjs
//
// For each tokenizer folder (. and flags/) it writes fixtures.json there: per text, the ids with
// and without special tokens and the decode of those ids with and without skipping special
// tokens; then decodes of pseudo-random id sequences (byte tokens cut mid-character, special
// tokens between them), which exercise the UTF-8 repair of the ByteLevel decoder.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const tokjs = process.env.TOKJS ?? "/tmp/tokjs";
const require = createRequire(join(tokjs, "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");
const version = JSON.parse(
  readFileSync(join(tokjs, "node_modules/@huggingface/tokenizers/package.json"), "utf8"),
).version;
const here = dirname(fileURLToPath(import.meta.url));

// Texts whose handling by tokenizers.js is known to differ from the Rust tokenizers crate
// (which is what the Java tokenizer follows); ByteLevelBpeTokenizerTest checks them against the
// Rust crate's rules instead. tokenizers.js ignores single_word, and when an rstrip token is
// followed by an added token that starts with whitespace it strips that token's text.
const notInJs = new Set(["sayhello", "hello_", "hello2", "<sep>\u00a0nbsp"]);

function atoms() {
  return [
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\n ", "\t\t\n  ",
    "hello", "Hello", "HELLO", " world", "world ", "it's", "IT'S", "It'S", "we're", "WE'RE",
    "they'VE", "I'm", "I'M", "you'll", "YOU'LL", "he'd", "HE'D", "don't", "'s", "''s",
    "123", "3.14159", "1,000,000", "0xFF", "-42", "٣٤٥", "Ⅻ", "½", "x²",
    "你好", "世界！", "日本語", "한국어", "Привет", "Καλημέρα", "مرحبا", "हिन्दी", "ภาษาไทย",
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪", "1️⃣", "❤️",
    "e\u0301", "cafe\u0301", "A\u030A", "\u1100\u1161", "\u212B", "\u2126", "ﬁ",
    "<image>", "<video>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>",
    "<|im_start", "<|im_start|", "< image>", "<IMAGE>", "<im", "<|im",
    "def f(x):", "{\"a\": 1}", "a+=b;", "//", "/* */", "#!/bin/sh", "x_y_z", "__init__",
    "\u00a0", "\u3000", "\u2028", "\u200b", "\u0000", "\u007f", "\u001f",
  ];
}

function sentences() {
  return [
    "The quick brown fox jumps over the lazy dog.",
    "USER: <image>\nWhat is in the picture? ASSISTANT:",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n",
    "<image><image>\nCompare these two images.",
    "x<image>y<video>z",
    "<|im_end|><|im_end|><|endoftext|>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "Hello   world\t\tand\r\n\r\nmore    \n   spaces   ",
    "    leading spaces",
    "trailing spaces     ",
    "a \n b \n\n c",
    "line1\nline2\r\nline3\rline4",
    "     \n\n\n     \t\t",
    " ".repeat(40),
    "\n".repeat(17),
    "a".repeat(100),
    "!".repeat(33),
    "ab".repeat(50),
    "1234567890".repeat(5),
    "Numbers: 1, 22, 333, 4444, 55555; 3.14 2.718 -1e-5 +7 0b1010 1_000_000",
    "She said it's fine, but they'll see what we've done and I'm sure you'd agree.",
    "SHE SAID IT'S FINE, BUT THEY'LL SEE WHAT WE'VE DONE AND I'M SURE YOU'D AGREE.",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'Re 'rE ' s",
    "ſ 'ſ K İstanbul ß STRASSE",
    "def encode(self, text: str) -> list[int]:\n    return [self.vocab[t] for t in text]\n",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}\n",
    "public static void main(String[] args) {\r\n  System.out.println(\"hi\");\r\n}\r\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<div class=\"row\"><span>text</span></div>  // comment",
    "if x == 0:\n        print('zero')\n    elif x < 0:\n        pass\n",
    "你好，世界！今天天气很好。我们一起去公园散步吧。",
    "图像中有一个红色的圆形和一个蓝色的正方形。",
    "日本語のテキストも少し入れます。ひらがなとカタカナと漢字。",
    "한국어 문장도 조금 넣습니다.",
    "Привет, мир! Как дела? Всё хорошо.",
    "Café crème, naïve façade, résumé, jalapeño, Zürich, São Paulo, Ångström.",
    "Cafe\u0301 cre\u0300me, nai\u0308ve fac\u0327ade (decomposed)",
    "\u212Bngstr\u00f6m \u2126hm \u1100\u1161\u11A8 (compose under NFC)",
    "Emoji: 😀 😃 👍🏽 ❤️ 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪 🎉🎉 🧑🏾‍💻 👩‍❤️‍💋‍👨",
    "Mixed: abc中文123😀def\u00a0ghi\u3000jkl",
    "Tabs\tand\t\tmany    spaces   and\r\nwindows\r\nlines\n\n\nblank",
    "Zero\u200bwidth\u200cjoiner\u200dmarks\ufeffbom",
    "Arabic with numbers ١٢٣ and Latin 123 mixed مرحبا123",
    "Devanagari: नमस्ते दुनिया, combining marks क्षि",
    "Math: ∑_{i=1}^{n} x_i² ≤ ∞ ∀x∈ℝ, α+β=γ",
    "URL https://example.com/path?q=1&r=2#frag and email a.b@c.de",
    "Ellipsis… “quotes” ‘single’ — dash – en-dash",
    "The price is $1,234.56 (or €1.234,56).",
    "A\tB\tC\n1\t2\t3\n",
    "end with newline\n",
    "\nstart with newline",
    "multiple\n\n\n\nnewlines then text",
    "spaces before newline   \nand after\n   x",
    "控制字符\u0001\u0002\u0003",
  ];
}

function flagSentences() {
  return [
    "a <mask> b", "a   <mask>", "<mask>", "   <mask>   ", "x\t\n<mask>y",
    "<sep>   x", "<sep>\n\ny", "a<sep>", "<sep><sep>  <sep>",
    "x <both>  y", "<both>", "  <both>  ", "a<both>b",
    "hello world", "say hello", "sayhello", "hello_", "hello!", "(hello)", "hello2",
    "u\u0308\u0301ber", "\u01d8ber", "U\u0308\u0301ber", "a u\u0308\u0301ber b", "\u00fc\u0301ber",
    "<|im", "<|im_start|>", "<|im_end", "<|imx", "<|im<|im_start|>",
    "\u00a0nbsp", "x\u00a0nbsp", "<sep>\u00a0nbsp", "<mask>\u00a0nbsp",
    "<|bos|>text", "text<|bos|>",
  ];
}

function corpus(withFlags) {
  const a = atoms();
  const texts = new Set();
  for (const t of a) texts.add(t);
  for (const t of sentences()) texts.add(t);
  if (withFlags) {
    for (const t of flagSentences()) texts.add(t);
    return [...texts];
  }
  // Pairs of atoms: the boundaries between them are where regex and BPE decisions change.
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a.length; j++) {
      if ((i * 31 + j * 17) % 11 === 0) texts.add(a[i] + a[j]);
    }
  }
  return [...texts];
}

// Deterministic pseudo-random numbers (mulberry32).
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function make(folder, withFlags) {
  const dir = join(here, folder);
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tok = new Tokenizer(json, config);
  const decode = (ids, skip) =>
    ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: skip });
  const cases = [];
  for (const text of corpus(withFlags)) {
    if (withFlags && notInJs.has(text)) continue;
    const ids = tok.encode(text).ids;
    const plain = tok.encode(text, { add_special_tokens: false }).ids;
    cases.push({
      text,
      ids,
      ids_without_special: plain,
      decoded: decode(ids, false),
      decoded_skipping_special: decode(ids, true),
    });
  }
  const random = rng(withFlags ? 2 : 1);
  const vocab = Object.keys(json.model.vocab).length;
  const special = json.added_tokens.map((t) => t.id);
  const decodes = [];
  for (let n = 0; n < 150; n++) {
    const ids = [];
    const len = 1 + Math.floor(random() * 12);
    for (let k = 0; k < len; k++) {
      const r = random();
      if (r < 0.1) ids.push(special[Math.floor(random() * special.length)]);
      else if (r < 0.6) ids.push(Math.floor(random() * 256)); // single bytes
      else ids.push(Math.floor(random() * vocab));
    }
    decodes.push({ ids, decoded: decode(ids, false), decoded_skipping_special: decode(ids, true) });
  }
  const out = { generator: `@huggingface/tokenizers ${version}`, cases, decodes };
  writeFileSync(join(dir, "fixtures.json"), JSON.stringify(out, null, 0) + "\n");
  console.log(`${folder}: ${cases.length} texts, ${decodes.length} id sequences`);
}

make(".", false);
make("flags", true);
