package io.llavaserve.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A deliberately plain reference for the LLaMA encoder: string symbols, and each round scans every
 * adjacent pair for the lowest merge rank (leftmost on ties). O(n^2), independent of the production
 * linked-list/heap loop. Knows the bundled file's setup only: Prepend + Replace normalizer, byte
 * fallback, the added tokens, BOS.
 */
final class ReferenceBpe {
  private final Map<String, Integer> vocab = new HashMap<>();
  private final Map<String, Integer> rank = new HashMap<>();
  private final Map<String, Integer> added = new HashMap<>();

  ReferenceBpe() throws IOException {
    try (InputStream in = LlamaTokenizer.class.getResourceAsStream("llama/tokenizer.json")) {
      JsonNode root = new ObjectMapper().readTree(in);
      root.path("model")
          .path("vocab")
          .fields()
          .forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
      int r = 0;
      for (JsonNode m : root.path("model").path("merges")) {
        String key = m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText();
        rank.putIfAbsent(key, r++);
      }
      for (JsonNode t : root.path("added_tokens")) {
        added.put(t.path("content").asText(), t.path("id").asInt());
      }
    }
  }

  int[] encode(String text) {
    List<Integer> out = new ArrayList<>(List.of(1));
    StringBuilder segment = new StringBuilder();
    int i = 0;
    outer:
    while (i < text.length()) {
      String longest = null;
      for (String token : added.keySet()) {
        if (text.startsWith(token, i) && (longest == null || token.length() > longest.length())) {
          longest = token;
        }
      }
      if (longest != null) {
        segment(segment.toString(), out);
        segment.setLength(0);
        out.add(added.get(longest));
        i += longest.length();
        continue outer;
      }
      segment.append(text.charAt(i++));
    }
    segment(segment.toString(), out);
    return out.stream().mapToInt(Integer::intValue).toArray();
  }

  private void segment(String text, List<Integer> out) {
    if (text.isEmpty()) {
      return;
    }
    String s = ("\u2581" + text).replace(" ", "\u2581");
    List<String> symbols = new ArrayList<>();
    s.codePoints()
        .forEach(
            cp -> {
              String ch = new String(Character.toChars(cp));
              if (vocab.containsKey(ch)) {
                symbols.add(ch);
              } else {
                for (byte b : ch.getBytes(StandardCharsets.UTF_8)) {
                  symbols.add(String.format("<0x%02X>", b & 0xFF));
                }
              }
            });
    while (true) {
      int best = -1;
      int bestRank = Integer.MAX_VALUE;
      for (int j = 0; j + 1 < symbols.size(); j++) {
        Integer r = rank.get(symbols.get(j) + " " + symbols.get(j + 1));
        if (r != null && r < bestRank) {
          bestRank = r;
          best = j;
        }
      }
      if (best < 0) {
        break;
      }
      symbols.set(best, symbols.get(best) + symbols.remove(best + 1));
    }
    symbols.forEach(sym -> out.add(vocab.get(sym)));
  }
}
