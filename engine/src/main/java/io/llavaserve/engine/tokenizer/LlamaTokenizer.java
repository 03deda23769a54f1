package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The LLaMA-family tokenizer read from Hugging Face's {@code tokenizer.json} (SentencePiece-style
 * BPE with byte fallback) and {@code tokenizer_config.json}, giving the ids HF's tokenizers give.
 *
 * <p>Encoding: added tokens are cut out of the raw text first; each text segment between them is
 * normalized on its own (so with the Prepend normalizer every segment gets its own "▁" prefix:
 * {@code "USER: <image>\nWhat"} gives {@code ▁USER:▁ <image> ▁\nWhat}) and BPE-encoded; BOS/EOS are
 * added as {@code add_bos_token}/{@code add_eos_token} say.
 */
public final class LlamaTokenizer implements Tokenizer {

  private static final String BUNDLED_DIR = "llama/";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final BpeModel model;
  private final SegmentNormalizer normalizer;
  private final TokenDecoder decoder;
  private final PieceTable pieces;
  private final AddedTokenSplitter splitter;
  private final int vocabSize;
  private final int bosId;
  private final int eosId;
  private final boolean addBos;
  private final boolean addEos;

  private LlamaTokenizer(JsonNode tokenizer, JsonNode config) throws IOException {
    JsonNode modelNode = tokenizer.path("model");
    String type = modelNode.path("type").asText("BPE");
    if (!type.equals("BPE")) {
      throw new IOException("tokenizer.json: model.type is '" + type + "', expected BPE");
    }
    this.model =
        new BpeModel(
            vocab(modelNode.path("vocab")),
            merges(modelNode.path("merges")),
            modelNode.path("unk_token").isTextual() ? modelNode.get("unk_token").asText() : null,
            modelNode.path("fuse_unk").asBoolean(false),
            modelNode.path("byte_fallback").asBoolean(false));
    this.normalizer =
        SegmentNormalizer.fromJson(tokenizer.get("normalizer"), tokenizer.get("pre_tokenizer"));
    this.decoder = TokenDecoder.fromJson(tokenizer.get("decoder"));

    Map<Integer, AddedToken> byId = new LinkedHashMap<>();
    for (JsonNode t : tokenizer.path("added_tokens")) {
      AddedToken token = addedToken(t.path("id").asInt(), t);
      byId.put(token.id(), token);
    }
    // transformers also registers the config's added_tokens_decoder entries.
    var fromConfig = config.path("added_tokens_decoder").fields();
    while (fromConfig.hasNext()) {
      var entry = fromConfig.next();
      int id = Integer.parseInt(entry.getKey());
      byId.putIfAbsent(id, addedToken(id, entry.getValue()));
    }
    this.pieces = new PieceTable(model, byId.values(), decoder);
    this.splitter = new AddedTokenSplitter(List.copyOf(byId.values()));
    int maxAdded = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
    this.vocabSize = Math.max(model.size(), maxAdded + 1);

    TemplateDefaults template = TemplateDefaults.of(tokenizer.path("post_processor"));
    this.bosId =
        idOf(tokenName(config.get("bos_token"), template.bos() != null ? template.bos() : "<s>"));
    this.eosId =
        idOf(tokenName(config.get("eos_token"), template.eos() != null ? template.eos() : "</s>"));
    boolean defaultAddBos = template.known() ? template.bos() != null : true;
    boolean defaultAddEos = template.known() && template.eos() != null;
    this.addBos = config.path("add_bos_token").asBoolean(defaultAddBos) && bosId >= 0;
    this.addEos = config.path("add_eos_token").asBoolean(defaultAddEos) && eosId >= 0;
  }

  /**
   * Loads a tokenizer.
   *
   * @param tokenizerJson Hugging Face {@code tokenizer.json}
   * @param tokenizerConfigJson {@code tokenizer_config.json}; may be null or missing, in which case
   *     BOS/EOS follow the {@code post_processor} of tokenizer.json (BOS only by default)
   */
  public static LlamaTokenizer load(Path tokenizerJson, Path tokenizerConfigJson)
      throws IOException {
    JsonNode tokenizer = JSON.readTree(tokenizerJson.toFile());
    JsonNode config =
        tokenizerConfigJson != null && Files.exists(tokenizerConfigJson)
            ? JSON.readTree(tokenizerConfigJson.toFile())
            : JSON.createObjectNode();
    try {
      return new LlamaTokenizer(tokenizer, config);
    } catch (IllegalArgumentException e) {
      throw new IOException(tokenizerJson + ": " + e.getMessage(), e);
    }
  }

  /** The llava-1.5 (LLaMA, 32000 pieces + {@code <image>} and {@code <pad>}) tokenizer. */
  public static LlamaTokenizer bundledLlama() {
    return Bundled.INSTANCE;
  }

  /** Writes the bundled {@code tokenizer.json} and {@code tokenizer_config.json} into a folder. */
  public static void writeBundledLlamaFiles(Path dir) throws IOException {
    Files.createDirectories(dir);
    for (String name : List.of("tokenizer.json", "tokenizer_config.json")) {
      try (InputStream in = bundled(name)) {
        Files.copy(in, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  private static InputStream bundled(String name) throws IOException {
    InputStream in = LlamaTokenizer.class.getResourceAsStream(BUNDLED_DIR + name);
    if (in == null) {
      throw new IOException("bundled tokenizer file missing from the classpath: " + name);
    }
    return in;
  }

  /** Loads the bundled files once, on first use. */
  private static final class Bundled {
    static final LlamaTokenizer INSTANCE = loadBundled();

    private static LlamaTokenizer loadBundled() {
      try (InputStream json = bundled("tokenizer.json");
          InputStream config = bundled("tokenizer_config.json")) {
        return new LlamaTokenizer(JSON.readTree(json), JSON.readTree(config));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  @Override
  public int[] encode(String text) {
    return encode(text, true);
  }

  @Override
  public int[] encode(String text, boolean addSpecialTokens) {
    IntList ids = new IntList();
    if (addSpecialTokens && addBos) {
      ids.add(bosId);
    }
    for (AddedTokenSplitter.Piece piece : splitter.split(text)) {
      if (piece instanceof AddedTokenSplitter.Token t) {
        ids.add(t.token().id());
      } else {
        AddedTokenSplitter.Text segment = (AddedTokenSplitter.Text) piece;
        for (String word : normalizer.words(segment.text(), segment.offset())) {
          model.tokenize(word, ids);
        }
      }
    }
    if (addSpecialTokens && addEos) {
      ids.add(eosId);
    }
    return ids.toArray();
  }

  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    return decoder.decode(this, ids, skipSpecialTokens);
  }

  @Override
  public IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens) {
    return new IncrementalDetokenizer(this, skipSpecialTokens, decoder.newStream());
  }

  @Override
  public int vocabSize() {
    return vocabSize;
  }

  @Override
  public int bosId() {
    return bosId;
  }

  @Override
  public int eosId() {
    return eosId;
  }

  /** Whether {@link #encode(String)} starts with {@link #bosId()}. */
  public boolean addsBos() {
    return addBos;
  }

  /** Whether {@link #encode(String)} ends with {@link #eosId()}. */
  public boolean addsEos() {
    return addEos;
  }

  @Override
  public OptionalInt tokenId(String token) {
    return pieces.id(token);
  }

  @Override
  public String tokenPiece(int id) {
    return pieces.piece(id);
  }

  @Override
  public boolean isSpecial(int id) {
    return pieces.isSpecial(id);
  }

  @Override
  public byte[] tokenBytes(int id) {
    return pieces.bytes(id);
  }

  private int idOf(String token) {
    return token == null ? -1 : tokenId(token).orElse(-1);
  }

  /** An added_tokens entry; {@code normalized} defaults to "not special", as in HF. */
  static AddedToken addedToken(int id, JsonNode t) {
    boolean special = t.path("special").asBoolean(false);
    return new AddedToken(
        id,
        t.path("content").asText(),
        special,
        t.path("lstrip").asBoolean(false),
        t.path("rstrip").asBoolean(false),
        t.path("single_word").asBoolean(false),
        t.path("normalized").asBoolean(!special));
  }

  /** A config token entry is either a string or an AddedToken dict with {@code content}. */
  private static String tokenName(JsonNode node, String fallback) {
    if (node == null || node.isNull()) {
      return fallback;
    }
    return node.isTextual() ? node.asText() : node.path("content").asText(fallback);
  }

  static Map<String, Integer> vocab(JsonNode node) throws IOException {
    if (!node.isObject() || node.isEmpty()) {
      throw new IOException("tokenizer.json: model.vocab is missing or empty");
    }
    Map<String, Integer> vocab = new HashMap<>(node.size() * 2);
    node.fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
    return vocab;
  }

  /** Merges are either "a b" strings (older files) or ["a", "b"] arrays (newer files). */
  static List<String[]> merges(JsonNode node) throws IOException {
    List<String[]> merges = new ArrayList<>(node.size());
    for (JsonNode m : node) {
      if (m.isArray() && m.size() == 2) {
        merges.add(new String[] {m.get(0).asText(), m.get(1).asText()});
      } else if (m.isTextual()) {
        String[] parts = m.asText().split(" ", -1);
        if (parts.length != 2) {
          throw new IOException("tokenizer.json: bad merge '" + m.asText() + "'");
        }
        merges.add(parts);
      } else {
        throw new IOException("tokenizer.json: bad merge " + m);
      }
    }
    return merges;
  }

  /**
   * BOS/EOS as the TemplateProcessing post-processor places them around the single sequence.
   *
   * @param known whether the file has such a post-processor at all
   */
  private record TemplateDefaults(boolean known, String bos, String eos) {
    static TemplateDefaults of(JsonNode postProcessor) {
      if (!"TemplateProcessing".equals(postProcessor.path("type").asText())) {
        return new TemplateDefaults(false, "<s>", null);
      }
      String bos = null;
      String eos = null;
      boolean seenSequence = false;
      for (JsonNode item : postProcessor.path("single")) {
        if (item.has("Sequence")) {
          seenSequence = true;
        } else if (item.has("SpecialToken")) {
          String id = item.get("SpecialToken").path("id").asText();
          if (seenSequence) {
            eos = id;
          } else {
            bos = id;
          }
        }
      }
      return new TemplateDefaults(true, bos, eos);
    }
  }
}
