package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The {@code pre_tokenizer} of a byte-level {@code tokenizer.json}: cuts normalized text into the
 * words BPE runs on, and writes them in the {@link ByteLevelAlphabet}. Qwen2's is {@code
 * Sequence[Split(regex, Isolated), ByteLevel(use_regex=false)]}; GPT-2's is a lone {@code
 * ByteLevel} with its built-in regex. Steps run in order, each on every piece the previous one
 * made, as Hugging Face's {@code PreTokenizedString.split} does.
 *
 * <p>Patterns are written for Oniguruma, which Hugging Face compiles them with; Java's regex agrees
 * with it once {@link Pattern#UNICODE_CHARACTER_CLASS} is on ({@code \s} is Unicode White_Space,
 * {@code (?i)} folds case by Unicode, {@code \p{L}}, {@code \p{N}} and lookahead mean the same).
 */
final class PreTokenizer {

  /** GPT-2's pattern, used by a ByteLevel step with {@code use_regex: true}. */
  static final String GPT2_PATTERN =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

  /** What a Split step does with the pieces its pattern matches. */
  enum Behavior {
    REMOVED,
    ISOLATED,
    MERGED_WITH_PREVIOUS,
    MERGED_WITH_NEXT,
    CONTIGUOUS
  }

  private sealed interface Step permits Split, ByteLevel {}

  private record Split(Pattern pattern, Behavior behavior, boolean invert) implements Step {}

  private record ByteLevel(boolean addPrefixSpace, Pattern regex) implements Step {}

  private final List<Step> steps;

  private PreTokenizer(List<Step> steps) {
    this.steps = List.copyOf(steps);
  }

  /**
   * Reads a {@code pre_tokenizer} made of Split and ByteLevel steps (possibly in a Sequence).
   *
   * @throws IllegalArgumentException naming the field that cannot be served
   */
  static PreTokenizer fromJson(JsonNode node) {
    List<Step> steps = new ArrayList<>();
    add(node, "pre_tokenizer", steps);
    return new PreTokenizer(steps);
  }

  /** Whether a {@code pre_tokenizer} node is, or contains, a ByteLevel step. */
  static boolean hasByteLevel(JsonNode node) {
    if (node == null || node.isNull()) {
      return false;
    }
    if ("ByteLevel".equals(node.path("type").asText())) {
      return true;
    }
    for (JsonNode child : node.path("pretokenizers")) {
      if (hasByteLevel(child)) {
        return true;
      }
    }
    return false;
  }

  /** The words of one normalized piece of text, in byte-level symbols, empty words dropped. */
  List<String> words(String text) {
    List<String> pieces = List.of(text);
    for (Step step : steps) {
      List<String> next = new ArrayList<>();
      for (String piece : pieces) {
        if (step instanceof Split s) {
          split(piece, s.pattern(), s.behavior(), s.invert(), next);
        } else {
          ByteLevel b = (ByteLevel) step;
          String p = b.addPrefixSpace() && !piece.startsWith(" ") ? " " + piece : piece;
          List<String> parts = new ArrayList<>();
          if (b.regex() != null) {
            split(p, b.regex(), Behavior.ISOLATED, false, parts);
          } else if (!p.isEmpty()) {
            parts.add(p);
          }
          parts.forEach(part -> next.add(ByteLevelAlphabet.encode(part)));
        }
      }
      pieces = next;
    }
    return pieces;
  }

  /** Splits by a pattern as HF's {@code NormalizedString::split} does; empty pieces dropped. */
  static void split(
      String text, Pattern pattern, Behavior behavior, boolean invert, List<String> out) {
    // (start, end, isMatch) covering the whole text, in order.
    List<int[]> spans = new ArrayList<>();
    int prev = 0;
    Matcher m = pattern.matcher(text);
    while (m.find()) {
      if (prev != m.start()) {
        spans.add(new int[] {prev, m.start(), invert ? 1 : 0});
      }
      spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
      prev = m.end();
    }
    if (prev != text.length()) {
      spans.add(new int[] {prev, text.length(), invert ? 1 : 0});
    }
    List<int[]> kept = new ArrayList<>(); // (start, end)
    switch (behavior) {
      case REMOVED -> spans.stream().filter(s -> s[2] == 0).forEach(kept::add);
      case ISOLATED -> kept.addAll(spans);
      case CONTIGUOUS -> {
        int previous = -1;
        for (int[] s : spans) {
          if (s[2] == previous && !kept.isEmpty()) {
            kept.get(kept.size() - 1)[1] = s[1];
          } else {
            kept.add(new int[] {s[0], s[1]});
          }
          previous = s[2];
        }
      }
      case MERGED_WITH_PREVIOUS -> {
        boolean previousMatch = false;
        for (int[] s : spans) {
          if (s[2] == 1 && !previousMatch && !kept.isEmpty()) {
            kept.get(kept.size() - 1)[1] = s[1];
          } else {
            kept.add(new int[] {s[0], s[1]});
          }
          previousMatch = s[2] == 1;
        }
      }
      case MERGED_WITH_NEXT -> {
        boolean previousMatch = false;
        for (int i = spans.size() - 1; i >= 0; i--) {
          int[] s = spans.get(i);
          if (s[2] == 1 && !previousMatch && !kept.isEmpty()) {
            kept.get(0)[0] = s[0];
          } else {
            kept.add(0, new int[] {s[0], s[1]});
          }
          previousMatch = s[2] == 1;
        }
      }
    }
    for (int[] k : kept) {
      if (k[1] > k[0]) {
        out.add(text.substring(k[0], k[1]));
      }
    }
  }

  /**
   * Compiles a pattern written for Oniguruma.
   *
   * @param field the JSON field it came from, for the error message
   */
  static Pattern compile(String regex, String field) {
    try {
      return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(
          "tokenizer.json: " + field + " is not a regex this tokenizer can run: " + e.getMessage(),
          e);
    }
  }

  private static void add(JsonNode node, String field, List<Step> steps) {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        JsonNode children = node.path("pretokenizers");
        for (int i = 0; i < children.size(); i++) {
          add(children.get(i), field + ".pretokenizers[" + i + "]", steps);
        }
      }
      case "Split" -> {
        JsonNode pattern = node.path("pattern");
        Pattern p;
        if (pattern.has("Regex")) {
          p = compile(pattern.get("Regex").asText(), field + ".pattern.Regex");
        } else if (pattern.has("String")) {
          p = Pattern.compile(Pattern.quote(pattern.get("String").asText()));
        } else {
          throw new IllegalArgumentException(
              "tokenizer.json: " + field + ".pattern must hold a Regex or a String");
        }
        steps.add(new Split(p, behavior(node.path("behavior").asText(), field), invert(node)));
      }
      case "ByteLevel" ->
          steps.add(
              new ByteLevel(
                  node.path("add_prefix_space").asBoolean(true),
                  node.path("use_regex").asBoolean(true)
                      ? Pattern.compile(GPT2_PATTERN, Pattern.UNICODE_CHARACTER_CLASS)
                      : null));
      default ->
          throw new IllegalArgumentException(
              "tokenizer.json: "
                  + field
                  + ".type '"
                  + type
                  + "' is not supported with a byte-level vocabulary (Split and ByteLevel are)");
    }
  }

  private static boolean invert(JsonNode node) {
    return node.path("invert").asBoolean(false);
  }

  private static Behavior behavior(String name, String field) {
    return switch (name) {
      case "Removed" -> Behavior.REMOVED;
      case "Isolated" -> Behavior.ISOLATED;
      case "MergedWithPrevious" -> Behavior.MERGED_WITH_PREVIOUS;
      case "MergedWithNext" -> Behavior.MERGED_WITH_NEXT;
      case "Contiguous" -> Behavior.CONTIGUOUS;
      default ->
          throw new IllegalArgumentException(
              "tokenizer.json: " + field + ".behavior '" + name + "' is not a split behavior");
    };
  }
}
