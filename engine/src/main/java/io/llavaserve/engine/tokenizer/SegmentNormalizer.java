package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text side of a SentencePiece-style {@code tokenizer.json}: the normalizer (older LLaMA files:
 * Prepend "▁" then Replace " " with "▁") and the Metaspace pre-tokenizer (newer files). Both run on
 * each text segment between added tokens, never across one.
 */
final class SegmentNormalizer {

  /** One normalizer step, applied to a non-empty segment. */
  private sealed interface Step permits Prepend, Replace, Unicode {}

  private record Prepend(String prefix) implements Step {}

  private record Replace(Pattern pattern, String content) implements Step {}

  private record Unicode(Normalizer.Form form) implements Step {}

  /** How the Metaspace pre-tokenizer adds its "▁" prefix. */
  enum PrependScheme {
    ALWAYS,
    FIRST,
    NEVER
  }

  /** The Metaspace pre-tokenizer's settings. */
  private record Metaspace(String replacement, PrependScheme scheme, boolean split) {}

  private final List<Step> steps;
  private final Metaspace metaspace; // null when the file has no Metaspace pre-tokenizer

  private SegmentNormalizer(List<Step> steps, Metaspace metaspace) {
    this.steps = List.copyOf(steps);
    this.metaspace = metaspace;
  }

  static SegmentNormalizer fromJson(JsonNode normalizer, JsonNode preTokenizer) throws IOException {
    List<Step> steps = new ArrayList<>();
    addNormalizer(normalizer, steps);
    List<Metaspace> metaspaces = new ArrayList<>();
    addPreTokenizer(preTokenizer, metaspaces);
    if (metaspaces.size() > 1) {
      throw new IOException("tokenizer.json: more than one Metaspace pre-tokenizer");
    }
    return new SegmentNormalizer(steps, metaspaces.isEmpty() ? null : metaspaces.get(0));
  }

  /**
   * Normalizes one segment and returns the words BPE runs on (one word unless Metaspace splits).
   *
   * @param offset where the segment starts in the whole input; Metaspace's "first" scheme only
   *     prefixes the segment at offset 0
   */
  List<String> words(String segment, int offset) {
    String s = segment;
    for (Step step : steps) {
      if (s.isEmpty()) {
        return List.of();
      }
      s = apply(step, s);
    }
    if (s.isEmpty()) {
      return List.of();
    }
    if (metaspace == null) {
      return List.of(s);
    }
    String r = metaspace.replacement();
    s = s.replace(" ", r);
    boolean prepend =
        metaspace.scheme() == PrependScheme.ALWAYS
            || (metaspace.scheme() == PrependScheme.FIRST && offset == 0);
    if (prepend && !s.startsWith(r)) {
      s = r + s;
    }
    if (!metaspace.split()) {
      return List.of(s);
    }
    // Split with the delimiter merged into the following word: "▁Hey▁you" -> "▁Hey", "▁you".
    List<String> words = new ArrayList<>();
    int start = 0;
    for (int i = s.indexOf(r, 1); i >= 0; i = s.indexOf(r, i + r.length())) {
      words.add(s.substring(start, i));
      start = i;
    }
    words.add(s.substring(start));
    return words;
  }

  /**
   * Runs the normalizer steps alone, without the Metaspace pre-tokenizer: the text Hugging Face's
   * normalizer gives for one piece of input.
   */
  String normalize(String segment) {
    String s = segment;
    for (Step step : steps) {
      if (s.isEmpty()) {
        return s;
      }
      s = apply(step, s);
    }
    return s;
  }

  private static String apply(Step step, String s) {
    if (step instanceof Prepend p) {
      return p.prefix() + s;
    } else if (step instanceof Replace r) {
      return r.pattern().matcher(s).replaceAll(Matcher.quoteReplacement(r.content()));
    } else {
      return Normalizer.normalize(s, ((Unicode) step).form());
    }
  }

  private static void addNormalizer(JsonNode node, List<Step> steps) throws IOException {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        for (JsonNode child : node.path("normalizers")) {
          addNormalizer(child, steps);
        }
      }
      case "Prepend" -> steps.add(new Prepend(node.path("prepend").asText()));
      case "Replace" ->
          steps.add(new Replace(pattern(node.path("pattern")), node.path("content").asText()));
      case "NFC" -> steps.add(new Unicode(Normalizer.Form.NFC));
      case "NFKC" -> steps.add(new Unicode(Normalizer.Form.NFKC));
      case "NFD" -> steps.add(new Unicode(Normalizer.Form.NFD));
      case "NFKD" -> steps.add(new Unicode(Normalizer.Form.NFKD));
      default ->
          throw new IOException("tokenizer.json: unsupported normalizer type '" + type + "'");
    }
  }

  private static void addPreTokenizer(JsonNode node, List<Metaspace> out) throws IOException {
    if (node == null || node.isNull()) {
      return;
    }
    String type = node.path("type").asText();
    switch (type) {
      case "Sequence" -> {
        for (JsonNode child : node.path("pretokenizers")) {
          addPreTokenizer(child, out);
        }
      }
      case "Metaspace" -> out.add(metaspace(node));
      default ->
          throw new IOException("tokenizer.json: unsupported pre_tokenizer type '" + type + "'");
    }
  }

  static Metaspace metaspace(JsonNode node) throws IOException {
    return new Metaspace(
        node.path("replacement").asText("\u2581"),
        prependScheme(node),
        node.path("split").asBoolean(true));
  }

  /** Reads {@code prepend_scheme}, or the older boolean {@code add_prefix_space}. */
  static PrependScheme prependScheme(JsonNode node) throws IOException {
    JsonNode scheme = node.get("prepend_scheme");
    if (scheme == null || scheme.isNull()) {
      return node.path("add_prefix_space").asBoolean(true)
          ? PrependScheme.ALWAYS
          : PrependScheme.NEVER;
    }
    return switch (scheme.asText()) {
      case "always" -> PrependScheme.ALWAYS;
      case "first" -> PrependScheme.FIRST;
      case "never" -> PrependScheme.NEVER;
      default ->
          throw new IOException("tokenizer.json: unknown prepend_scheme '" + scheme.asText() + "'");
    };
  }

  private static Pattern pattern(JsonNode pattern) throws IOException {
    if (pattern.has("String")) {
      return Pattern.compile(Pattern.quote(pattern.get("String").asText()));
    }
    if (pattern.has("Regex")) {
      return Pattern.compile(pattern.get("Regex").asText());
    }
    throw new IOException(
        "tokenizer.json: Replace pattern is neither String nor Regex: " + pattern);
  }
}
