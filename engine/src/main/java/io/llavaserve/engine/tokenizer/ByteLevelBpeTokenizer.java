package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A byte-level BPE tokenizer read from Hugging Face's {@code tokenizer.json}, as Qwen2, GPT-2 and
 * LLaMA-3 ship it, giving the ids HF's {@code tokenizers} gives.
 *
 * <p>Encoding: added tokens are cut out first ({@link AddedTokenMatcher}); each piece of text
 * between them is normalized (NFC for Qwen2), split by the pre-tokenizer's regex into words, each
 * word written in the {@link ByteLevelAlphabet} and BPE-merged by rank ({@link BpeModel}). Special
 * tokens are added around the text only as the {@code post_processor} says: none for Qwen2, whose
 * post-processor is a plain ByteLevel. Decoding maps tokens back to bytes and reads them as UTF-8.
 */
public final class ByteLevelBpeTokenizer implements Tokenizer {

  private final BpeModel model;
  private final boolean ignoreMerges;
  private final SegmentNormalizer normalizer;
  private final PreTokenizer preTokenizer;
  private final TokenDecoder decoder;
  private final AddedTokenMatcher matcher;
  private final PieceTable pieces;
  private final PostProcessor postProcessor;
  private final int vocabSize;
  private final int bosId;
  private final int eosId;

  /**
   * Builds the tokenizer from parsed files.
   *
   * @param tokenizer the parsed {@code tokenizer.json}
   * @param config the parsed {@code tokenizer_config.json} (an empty object when there is none)
   * @throws IllegalArgumentException naming the field of a file this class cannot serve
   */
  ByteLevelBpeTokenizer(JsonNode tokenizer, JsonNode config) {
    JsonNode m = tokenizer.path("model");
    requireEmpty(m, "continuing_subword_prefix");
    requireEmpty(m, "end_of_word_suffix");
    if (m.path("dropout").isNumber() && m.path("dropout").asDouble() != 0.0) {
      throw new IllegalArgumentException(
          "tokenizer.json: model.dropout is " + m.path("dropout") + "; only null or 0 is served");
    }
    try {
      this.model =
          new BpeModel(
              LlamaTokenizer.vocab(m.path("vocab")),
              LlamaTokenizer.merges(m.path("merges")),
              m.path("unk_token").isTextual() ? m.get("unk_token").asText() : null,
              m.path("fuse_unk").asBoolean(false),
              m.path("byte_fallback").asBoolean(false));
    } catch (IOException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("tokenizer.json: model.merges: " + e.getMessage(), e);
    }
    for (int b = 0; b < 256; b++) {
      if (model.id(String.valueOf(ByteLevelAlphabet.symbol(b))) == null) {
        throw new IllegalArgumentException(
            String.format(
                "tokenizer.json: model.vocab has no symbol for byte 0x%02X ('%c'); a byte-level"
                    + " vocabulary needs all 256",
                b, ByteLevelAlphabet.symbol(b)));
      }
    }
    this.ignoreMerges = m.path("ignore_merges").asBoolean(false);
    try {
      this.normalizer = SegmentNormalizer.fromJson(tokenizer.get("normalizer"), null);
      this.decoder = TokenDecoder.fromJson(tokenizer.get("decoder"));
    } catch (IOException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    this.preTokenizer = PreTokenizer.fromJson(tokenizer.get("pre_tokenizer"));

    Map<Integer, AddedToken> byId = new LinkedHashMap<>();
    for (JsonNode t : tokenizer.path("added_tokens")) {
      AddedToken token = LlamaTokenizer.addedToken(t.path("id").asInt(), t);
      byId.put(token.id(), token);
    }
    this.pieces = new PieceTable(model, byId.values(), decoder);
    this.matcher = new AddedTokenMatcher(List.copyOf(byId.values()), normalizer::normalize);
    int maxAdded = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
    this.vocabSize = Math.max(model.size(), maxAdded + 1);

    this.postProcessor = PostProcessor.fromJson(tokenizer.get("post_processor"), "post_processor");
    int configBos = idOf(tokenName(config.get("bos_token")));
    int configEos = idOf(tokenName(config.get("eos_token")));
    this.bosId = configBos >= 0 ? configBos : postProcessor.first();
    this.eosId = configEos >= 0 ? configEos : postProcessor.last();
  }

  @Override
  public int[] encode(String text) {
    return encode(text, true);
  }

  @Override
  public int[] encode(String text, boolean addSpecialTokens) {
    IntList ids = new IntList();
    if (addSpecialTokens) {
      postProcessor.prefix().forEach(ids::add);
    }
    for (AddedTokenMatcher.Piece piece : matcher.split(text)) {
      if (piece instanceof AddedTokenMatcher.Token t) {
        ids.add(t.token().id());
        continue;
      }
      for (String word : preTokenizer.words(((AddedTokenMatcher.Text) piece).text())) {
        Integer whole = ignoreMerges ? model.id(word) : null;
        if (whole != null) {
          ids.add(whole);
        } else {
          model.tokenize(word, ids);
        }
      }
    }
    if (addSpecialTokens) {
      postProcessor.suffix().forEach(ids::add);
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

  @Override
  public OptionalInt tokenId(String token) {
    return pieces.id(token);
  }

  @Override
  public String tokenPiece(int id) {
    return pieces.piece(id);
  }

  @Override
  public byte[] tokenBytes(int id) {
    return pieces.bytes(id);
  }

  @Override
  public boolean isSpecial(int id) {
    return pieces.isSpecial(id);
  }

  private int idOf(String token) {
    return token == null ? -1 : tokenId(token).orElse(-1);
  }

  /** A config token entry is null, a string, or an AddedToken dict with {@code content}. */
  private static String tokenName(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    return node.isTextual() ? node.asText() : node.path("content").asText(null);
  }

  private static void requireEmpty(JsonNode model, String field) {
    JsonNode v = model.get(field);
    if (v != null && !v.isNull() && !v.asText().isEmpty()) {
      throw new IllegalArgumentException(
          "tokenizer.json: model." + field + " is '" + v.asText() + "'; only empty is served");
    }
  }
}
