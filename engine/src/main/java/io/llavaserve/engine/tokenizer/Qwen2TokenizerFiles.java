package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Writes a byte-level BPE tokenizer in the layout Qwen2 checkpoints ship and llava-interleave and
 * llava-onevision extend: {@code tokenizer.json} (NFC normalizer; {@code Split} by Qwen2's regex,
 * Isolated, then {@code ByteLevel} without its own regex; ByteLevel post-processor and decoder; BPE
 * with merges as {@code "a b"} strings), {@code tokenizer_config.json} ({@code Qwen2Tokenizer}, no
 * BOS, EOS {@code <|im_end|>}, pad {@code <|endoftext|>}, a ChatML template) and {@code
 * generation_config.json} (EOS ids {@code <|im_end|>} and {@code <|endoftext|>}, as Qwen2's
 * instruct models list them).
 *
 * <p>The ids follow Qwen2's: the learned tokens first, then {@code <|endoftext|>}, {@code
 * <|im_start|>}, {@code <|im_end|>}, then LLaVA's {@code <image>} and (OneVision) {@code <video>}.
 * So the image id fixes the vocabulary: 151,646 gives Qwen2's own 151,643 learned tokens and its
 * special ids, a smaller one a smaller vocabulary. Hugging Face's tokenizers number added tokens
 * from the end of the learned vocabulary whatever ids a file gives them, so the learned vocabulary
 * must fill every id below {@code <|endoftext|>}; it is learned by {@link ByteLevelBpeTrainer} on
 * {@link SyntheticCorpus}, deterministically (the same image id gives the same files).
 */
public final class Qwen2TokenizerFiles {

  /** Qwen2's pre-tokenizer regex, as its tokenizer.json writes it. */
  public static final String QWEN2_PATTERN =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
          + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

  /**
   * ChatML with LLaVA's images: each turn {@code <|im_start|>role\n}, a turn's images first, one
   * {@code <image>\n} each (as llava-onevision's template writes them), then its text and {@code
   * <|im_end|>\n}; content may be a string or a list of parts; the generation prompt opens the
   * assistant's turn.
   */
  public static final String CHATML_TEMPLATE =
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
          + "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
          + "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
          + "{{ '<image>\\n' }}{% endfor %}"
          + "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
          + "{{ content['text'] }}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
          + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  /** Qwen2's {@code <image>} id in llava-interleave and llava-onevision. */
  public static final int QWEN2_IMAGE_TOKEN_ID = 151646;

  public static final String END_OF_TEXT = "<|endoftext|>";
  public static final String IM_START = "<|im_start|>";
  public static final String IM_END = "<|im_end|>";
  public static final String IMAGE = "<image>";
  public static final String VIDEO = "<video>";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Map<Integer, ByteLevelBpeTrainer.Vocabulary> LEARNED =
      new ConcurrentHashMap<>();

  private Qwen2TokenizerFiles() {}

  /**
   * The special ids of a vocabulary whose {@code <image>} is {@code imageTokenId}.
   *
   * @param endOfText {@code <|endoftext|>}, also the pad token
   * @param imStart {@code <|im_start|>}
   * @param imEnd {@code <|im_end|>}, the EOS
   * @param image {@code <image>}
   * @param video {@code <video>}, -1 without one
   */
  public record Layout(int endOfText, int imStart, int imEnd, int image, int video) {

    /** Qwen2's three specials right below the image id, and a video id after it if asked. */
    public static Layout forImageToken(int imageTokenId, boolean video) {
      if (imageTokenId < 256 + 3) {
        throw new IllegalArgumentException(
            "the image id " + imageTokenId + " leaves no room for the 256 byte tokens");
      }
      return new Layout(
          imageTokenId - 3,
          imageTokenId - 2,
          imageTokenId - 1,
          imageTokenId,
          video ? imageTokenId + 1 : -1);
    }

    /** Ids the tokenizer covers, added tokens included. */
    public int size() {
      return (video >= 0 ? video : image) + 1;
    }
  }

  /**
   * Writes the three files into {@code dir}.
   *
   * @param processorClass the processor that tokenizer_config.json names ({@code LlavaProcessor},
   *     {@code LlavaOnevisionProcessor})
   */
  public static void write(Path dir, Layout layout, String processorClass) throws IOException {
    Files.createDirectories(dir);
    ObjectNode tokenizer = tokenizerJson(layout);
    JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizer);
    JSON.writerWithDefaultPrettyPrinter()
        .writeValue(
            dir.resolve("tokenizer_config.json").toFile(),
            tokenizerConfig(layout, (ArrayNode) tokenizer.get("added_tokens"), processorClass));
    ObjectNode generation = JSON.createObjectNode();
    generation.put("bos_token_id", layout.endOfText());
    generation.putArray("eos_token_id").add(layout.imEnd()).add(layout.endOfText());
    generation.put("pad_token_id", layout.endOfText());
    JSON.writerWithDefaultPrettyPrinter()
        .writeValue(dir.resolve("generation_config.json").toFile(), generation);
  }

  private static ObjectNode tokenizerJson(Layout layout) {
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (String[] t : specials(layout)) {
      added
          .addObject()
          .put("id", Integer.parseInt(t[1]))
          .put("content", t[0])
          .put("single_word", false)
          .put("lstrip", false)
          .put("rstrip", false)
          .put("normalized", false)
          .put("special", true);
    }
    ObjectNode normalizer = root.putObject("normalizer").put("type", "NFC");
    ObjectNode pre = root.putObject("pre_tokenizer").put("type", "Sequence");
    ArrayNode steps = pre.putArray("pretokenizers");
    ObjectNode split = steps.addObject().put("type", "Split");
    split.putObject("pattern").put("Regex", QWEN2_PATTERN);
    split.put("behavior", "Isolated").put("invert", false);
    steps.add(byteLevel());
    root.set("post_processor", byteLevel());
    root.set("decoder", byteLevel());

    ByteLevelBpeTrainer.Vocabulary learned = learned(layout.endOfText(), normalizer, pre);
    ObjectNode model = root.putObject("model").put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.put("continuing_subword_prefix", "");
    model.put("end_of_word_suffix", "");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    ObjectNode vocab = model.putObject("vocab");
    for (int id = 0; id < learned.tokens().size(); id++) {
      vocab.put(learned.tokens().get(id), id);
    }
    ArrayNode merges = model.putArray("merges");
    for (String[] m : learned.merges()) {
      merges.add(m[0] + " " + m[1]);
    }
    return root;
  }

  /** The vocabulary of {@code size} learned tokens, learned once per size in this process. */
  private static ByteLevelBpeTrainer.Vocabulary learned(
      int size, ObjectNode normalizer, ObjectNode preTokenizer) {
    return LEARNED.computeIfAbsent(
        size,
        n -> {
          SegmentNormalizer norm;
          try {
            norm = SegmentNormalizer.fromJson(normalizer, null);
          } catch (IOException e) {
            throw new IllegalStateException(e);
          }
          return ByteLevelBpeTrainer.train(
              SyntheticCorpus.wordCounts(PreTokenizer.fromJson(preTokenizer), norm, n), n);
        });
  }

  private static ObjectNode tokenizerConfig(
      Layout layout, ArrayNode addedTokens, String processorClass) {
    ObjectNode root = JSON.createObjectNode();
    root.put("add_prefix_space", false);
    ObjectNode decoder = root.putObject("added_tokens_decoder");
    for (var t : addedTokens) {
      ObjectNode entry = ((ObjectNode) t).deepCopy();
      entry.remove("id");
      decoder.set(t.get("id").asText(), entry);
    }
    root.putArray("additional_special_tokens").add(IM_START).add(IM_END);
    root.putNull("bos_token");
    root.put("chat_template", CHATML_TEMPLATE);
    root.put("clean_up_tokenization_spaces", false);
    root.put("eos_token", IM_END);
    root.put("errors", "replace");
    root.put("model_max_length", 32768);
    root.put("pad_token", END_OF_TEXT);
    root.put("processor_class", processorClass);
    root.put("split_special_tokens", false);
    root.put("tokenizer_class", "Qwen2Tokenizer");
    root.putNull("unk_token");
    return root;
  }

  /** (content, id) of the added tokens in id order. */
  private static List<String[]> specials(Layout layout) {
    List<String[]> out = new ArrayList<>();
    out.add(new String[] {END_OF_TEXT, String.valueOf(layout.endOfText())});
    out.add(new String[] {IM_START, String.valueOf(layout.imStart())});
    out.add(new String[] {IM_END, String.valueOf(layout.imEnd())});
    out.add(new String[] {IMAGE, String.valueOf(layout.image())});
    if (layout.video() >= 0) {
      out.add(new String[] {VIDEO, String.valueOf(layout.video())});
    }
    return out;
  }

  private static ObjectNode byteLevel() {
    return JSON.createObjectNode()
        .put("type", "ByteLevel")
        .put("add_prefix_space", false)
        .put("trim_offsets", false)
        .put("use_regex", false);
  }
}
