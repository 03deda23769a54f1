package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** The decoder of a {@code tokenizer.json}: token strings to text, whole or streamed. */
final class TokenDecoder {

  private final List<DecodeStep> steps;

  TokenDecoder(List<DecodeStep> steps) {
    this.steps = List.copyOf(steps);
  }

  static TokenDecoder fromJson(JsonNode decoder) throws IOException {
    List<DecodeStep> steps = new ArrayList<>();
    if (decoder == null || decoder.isNull()) {
      steps.add(new DecodeStep.JoinWithSpace());
    } else {
      add(decoder, steps);
    }
    return new TokenDecoder(steps);
  }

  private static void add(JsonNode node, List<DecodeStep> steps) throws IOException {
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        for (JsonNode child : node.path("decoders")) {
          add(child, steps);
        }
      }
      case "Replace" -> {
        JsonNode pattern = node.path("pattern");
        if (!pattern.has("String")) {
          throw new IOException("tokenizer.json: only String patterns are supported in decoders");
        }
        steps.add(
            new DecodeStep.Replace(pattern.get("String").asText(), node.path("content").asText()));
      }
      case "ByteFallback" -> steps.add(new DecodeStep.ByteFallback());
      case "ByteLevel" -> steps.add(new DecodeStep.ByteLevel());
      case "Fuse" -> steps.add(new DecodeStep.Fuse());
      case "Strip" ->
          steps.add(
              new DecodeStep.Strip(
                  node.path("content").asText(" ").codePointAt(0),
                  node.path("start").asInt(0),
                  node.path("stop").asInt(0)));
      case "Metaspace" ->
          steps.add(
              new DecodeStep.Metaspace(
                  node.path("replacement").asText("\u2581"),
                  SegmentNormalizer.prependScheme(node) != SegmentNormalizer.PrependScheme.NEVER));
      default -> throw new IOException("tokenizer.json: unsupported decoder type '" + type + "'");
    }
  }

  /**
   * Decodes ids through {@code tokenizer}'s pieces (ids outside its vocabulary ignored, special
   * tokens left out when asked), as {@link Tokenizer#decode} does.
   */
  String decode(Tokenizer tokenizer, int[] ids, boolean skipSpecialTokens) {
    List<String> tokens = new ArrayList<>(ids.length);
    for (int id : ids) {
      String piece = tokenizer.tokenPiece(id);
      if (piece != null && !(skipSpecialTokens && tokenizer.isSpecial(id))) {
        tokens.add(piece);
      }
    }
    return decode(tokens);
  }

  /** Decodes a whole list of token strings at once, step by step as HF does. */
  String decode(List<String> tokens) {
    List<String> current = tokens;
    for (DecodeStep step : steps) {
      current = step.decodeChain(current);
    }
    return String.join("", current);
  }

  /**
   * The bytes one vocabulary piece adds to the text in the middle of a sequence: the per-token
   * steps applied (Replace, Metaspace's "▁" to " "), a byte-fallback token as its single byte, a
   * byte-level piece as the bytes its characters stand for, and the steps that act only at the
   * start of the text (a Strip after Fuse) left out.
   */
  byte[] bytesOf(String piece) {
    String text = piece;
    boolean fused = false;
    for (DecodeStep step : steps) {
      if (step instanceof DecodeStep.ByteLevel) {
        return ByteLevelAlphabet.bytesOf(text); // a byte-level piece is its bytes, whole or not
      } else if (step instanceof DecodeStep.ByteFallback) {
        int b = DecodeStep.ByteFallback.byteValue(text);
        if (b >= 0) {
          return new byte[] {(byte) b};
        }
      } else if (step instanceof DecodeStep.Fuse) {
        fused = true;
      } else if (step instanceof DecodeStep.JoinWithSpace) {
        text = " " + text;
      } else if (!(fused && step instanceof DecodeStep.Strip)) {
        text = step.decodeChain(List.of("", text)).get(1); // as a token after the first
      }
    }
    return text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** A fresh streaming pipeline: one stage per step, each feeding the next. */
  Stream newStream() {
    List<DecodeStep.Stage> stages = new ArrayList<>();
    boolean fused = false;
    for (DecodeStep step : steps) {
      stages.add(step.stage(fused));
      fused |= step instanceof DecodeStep.Fuse;
    }
    return new Stream(stages);
  }

  /** Streaming decode state: push tokens, collect the text each push releases. */
  static final class Stream {
    private final List<DecodeStep.Stage> stages;

    private Stream(List<DecodeStep.Stage> stages) {
      this.stages = stages;
    }

    String push(String token) {
      StringBuilder out = new StringBuilder();
      feed(0, token, out);
      return out.toString();
    }

    String finish() {
      StringBuilder out = new StringBuilder();
      for (int i = 0; i < stages.size(); i++) {
        int next = i + 1;
        stages.get(i).finish(text -> feed(next, text, out));
      }
      return out.toString();
    }

    private void feed(int index, String token, StringBuilder out) {
      if (index == stages.size()) {
        out.append(token);
        return;
      }
      stages.get(index).accept(token, text -> feed(index + 1, text, out));
    }
  }
}
