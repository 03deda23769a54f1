package io.llavaserve.engine.tokenizer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The text a small byte-level BPE vocabulary is learned from when no real corpus may be downloaded:
 * English prose about images, code with its indentation and line ends, text in other scripts (CJK,
 * Cyrillic, Greek, Arabic, Devanagari, Hangul), emoji, numbers, and a tail of pseudo-words drawn
 * from syllables with Zipf-like counts, as many as the vocabulary needs pairs. Deterministic: the
 * same size gives the same counts.
 *
 * <p>Counts are of pre-tokenized words (normalized and split by the tokenizer's own pre-tokenizer),
 * so merges are learned on exactly the words encoding will see.
 */
final class SyntheticCorpus {

  private static final List<String> PROSE =
      List.of(
          "The quick brown fox jumps over the lazy dog.",
          "What is shown in this image? Describe the picture in detail.",
          "A red circle is to the left of a blue square; the green triangle is above both.",
          "How many shapes are there? Answer the question using a single word or phrase.",
          "The image shows a small yellow star next to a large purple hexagon.",
          "There are three objects on a white background, and none of them overlap.",
          "You are a helpful assistant. Please answer the user's questions carefully.",
          "I'm sure it's fine, but they'll check what we've done and you'd agree.",
          "Don't DON'T can't CAN'T we're WE'RE they've THEY'VE I'll I'LL he'd HE'D it's IT'S",
          "Continuous batching packs the prefill and decode tokens of many requests together.",
          "The key-value cache is split into blocks of sixteen tokens each.",
          "In 2024 the model was trained on 1,234,567 examples for 3.5 epochs at lr=2e-5.",
          "Hello, world! Hello world!! hello-world hello_world HelloWorld",
          "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
          "The weather in Oslo is cold today: minus three degrees and light snow.",
          "Please summarize the following article in two sentences.",
          "Sure! Here is a short story about a robot who learns to paint.",
          "The answer is yes.  The answer is no.   Maybe...",
          "Q: Which shape is the largest?\nA: The orange rectangle.\n",
          "system\nYou are a helpful assistant.\nuser\nHi! Can you help me with this image?\n",
          "assistant\nOf course. The user asked about the image; the assistant answered.\n");

  private static final List<String> CODE =
      List.of(
          "def encode(self, text: str) -> list[int]:\n    return [self.vocab[t] for t in text]\n",
          "for (int i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}\n",
          "public static void main(String[] args) {\r\n    System.out.println(\"hi\");\r\n}\r\n",
          "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;\n",
          "if x == 0:\n        print('zero')\n    elif x < 0:\n        pass\n",
          "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}\n",
          "<div class=\"row\"><span>text</span></div>  // comment\n/* block */\n",
          "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\n\n\n",
          "    }\n  }\n}\n\n#include <stdio.h>\nint main(void) { return 0; }\n",
          "$ curl -s localhost:8000/v1/models | jq '.data[0].id'\n");

  private static final List<String> WORLD =
      List.of(
          "你好，世界！今天天气很好。我们一起去公园散步吧。",
          "图像中有一个红色的圆形和一个蓝色的正方形。",
          "日本語のテキストも少し入れます。ひらがなとカタカナと漢字。",
          "한국어 문장도 조금 넣습니다. 이미지에 무엇이 있나요?",
          "Привет, мир! Как дела? Всё хорошо, спасибо.",
          "Καλημέρα κόσμε. Ελληνικά γράμματα και λέξεις.",
          "مرحبا بالعالم. هذه جملة عربية قصيرة.",
          "नमस्ते दुनिया। यह एक छोटा वाक्य है।",
          "Café crème, naïve façade, résumé, jalapeño, Zürich, São Paulo, Ångström.",
          "Emoji: 😀 😃 👍🏽 ❤️ 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪 🎉🎉 ✨",
          "Numbers 0123456789 ٣٤٥ ⅧⅨ ½ ² 3.14159 -42 +7 1e10 0xFF",
          "Tabs\tand\t\tmany    spaces   and\r\nwindows\r\nlines\n\n\nblank");

  private static final String[] LATIN = {
    "ka", "to", "ri", "men", "sha", "lo", "ver", "in", "qu", "est", "an", "th", "ing", "ou", "pre",
    "con", "al", "er", "es", "ion", "re", "de", "un", "or", "ly", "st", "ch", "ph", "ze", "bu"
  };
  private static final String[] CYRILLIC = {"ра", "но", "ст", "ви", "ко", "ль", "пр", "ен", "ти"};
  private static final String[] GREEK = {"κα", "το", "λο", "με", "πα", "νη", "ρι"};

  private SyntheticCorpus() {}

  /**
   * Word counts for a vocabulary of about {@code size} tokens.
   *
   * @param pre the tokenizer's pre-tokenizer, which the words are split by
   * @param normalizer the tokenizer's normalizer, run first
   */
  static Map<String, Long> wordCounts(PreTokenizer pre, SegmentNormalizer normalizer, int size) {
    Map<String, Long> counts = new HashMap<>();
    PROSE.forEach(line -> add(counts, pre, normalizer, line, 3000));
    CODE.forEach(line -> add(counts, pre, normalizer, line, 1500));
    WORLD.forEach(line -> add(counts, pre, normalizer, line, 500));
    for (int i = 0; i < 300; i++) {
      add(counts, pre, normalizer, i + " " + (i * 37 % 1000) + " item_" + i + " v=" + i / 7.0, 1);
    }
    SplittableRandom random = new SplittableRandom(11);
    int pseudo = size + 2000;
    StringBuilder line = new StringBuilder();
    for (int i = 0; i < pseudo; i++) {
      line.setLength(0);
      line.append(i % 3 == 0 ? " " : i % 3 == 1 ? ", " : "\n");
      line.append(pseudoWord(random, i));
      // Zipf-like: the first words are common, the tail is seen once or twice.
      add(counts, pre, normalizer, line.toString(), 1 + 200L / (i + 1));
    }
    return counts;
  }

  private static String pseudoWord(SplittableRandom random, int i) {
    int n = 2 + random.nextInt(4);
    StringBuilder w = new StringBuilder();
    if (i % 11 == 0) {
      for (int k = 0; k < n; k++) {
        w.append((char) (0x4E00 + random.nextInt(2000)));
      }
      return w.toString();
    }
    String[] syllables = i % 7 == 0 ? CYRILLIC : i % 13 == 0 ? GREEK : LATIN;
    for (int k = 0; k < n; k++) {
      w.append(syllables[random.nextInt(syllables.length)]);
    }
    if (i % 5 == 0) {
      w.setCharAt(0, Character.toUpperCase(w.charAt(0)));
    }
    return w.toString();
  }

  private static void add(
      Map<String, Long> counts,
      PreTokenizer pre,
      SegmentNormalizer normalizer,
      String text,
      long times) {
    for (String word : pre.words(normalizer.normalize(text))) {
      counts.merge(word, times, Long::sum);
    }
  }
}
