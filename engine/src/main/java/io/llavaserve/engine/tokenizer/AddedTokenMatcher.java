package io.llavaserve.engine.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * Finds added tokens in the input as Hugging Face's {@code AddedVocabulary.extract_and_normalize}
 * does, before any BPE: first the tokens with {@code normalized: false} on the raw text, then the
 * text between them is normalized and the {@code normalized: true} tokens (in their normalized
 * form) are found in it. Matching is leftmost-longest and non-overlapping, like the Aho-Corasick
 * automaton HF builds; a {@code single_word} token touching a word character is passed over (the
 * search resumes after it), {@code lstrip}/{@code rstrip} swallow Unicode whitespace beside the
 * token.
 */
final class AddedTokenMatcher {

  /** A piece of the input: text (normalized, once {@link #split} returns it) or an added token. */
  sealed interface Piece permits Text, Token {}

  record Text(String text) implements Piece {}

  record Token(AddedToken token) implements Piece {}

  // Rust's regex crate reads \w and \s by Unicode, as these flags make Java do.
  private static final Pattern WORD_CHAR = Pattern.compile("\\w", Pattern.UNICODE_CHARACTER_CLASS);
  private static final Pattern SPACE = Pattern.compile("\\s", Pattern.UNICODE_CHARACTER_CLASS);

  private final Patterns raw;
  private final Patterns normalized;
  private final UnaryOperator<String> normalizer;

  /**
   * @param normalizer the tokenizer's normalizer (identity when it has none); also applied to the
   *     content of {@code normalized} tokens, as HF does
   */
  AddedTokenMatcher(List<AddedToken> tokens, UnaryOperator<String> normalizer) {
    this.normalizer = normalizer;
    this.raw = new Patterns();
    this.normalized = new Patterns();
    for (AddedToken t : tokens) {
      if (t.normalized()) {
        normalized.add(normalizer.apply(t.content()), t);
      } else {
        raw.add(t.content(), t);
      }
    }
  }

  List<Piece> split(String text) {
    List<Piece> out = new ArrayList<>();
    for (Piece piece : find(text, raw)) {
      if (piece instanceof Text t) {
        out.addAll(find(normalizer.apply(t.text()), normalized));
      } else {
        out.add(piece);
      }
    }
    return out;
  }

  private static List<Piece> find(String sentence, Patterns trie) {
    List<Piece> pieces = new ArrayList<>();
    int startOffset = 0;
    int pos = 0;
    while (!trie.isEmpty() && pos < sentence.length()) {
      Map.Entry<String, AddedToken> match = null;
      int start = pos;
      for (; start < sentence.length() && match == null; start++) {
        match = trie.longestAt(sentence, start);
      }
      if (match == null) {
        break;
      }
      start--;
      AddedToken token = match.getValue();
      int stop = start + match.getKey().length();
      pos = stop; // the automaton resumes after the match, whatever is done with it
      if (token.singleWord()
          && ((start > 0 && isWordChar(sentence.codePointBefore(start)))
              || (stop < sentence.length() && isWordChar(sentence.codePointAt(stop))))) {
        continue;
      }
      if (token.lstrip()) {
        int newStart = start;
        while (newStart > 0 && isSpace(sentence.codePointBefore(newStart))) {
          newStart -= Character.charCount(sentence.codePointBefore(newStart));
        }
        start = Math.max(newStart, startOffset);
      }
      if (token.rstrip()) {
        while (stop < sentence.length() && isSpace(sentence.codePointAt(stop))) {
          stop += Character.charCount(sentence.codePointAt(stop));
        }
      }
      if (startOffset < start) {
        pieces.add(new Text(sentence.substring(startOffset, start)));
      }
      pieces.add(new Token(token));
      startOffset = stop;
    }
    if (startOffset < sentence.length()) {
      pieces.add(new Text(sentence.substring(startOffset)));
    }
    return pieces;
  }

  private static boolean isWordChar(int cp) {
    return WORD_CHAR.matcher(Character.toString(cp)).matches();
  }

  private static boolean isSpace(int cp) {
    return SPACE.matcher(Character.toString(cp)).matches();
  }

  /** Token patterns by first character, longest first (a small stand-in for HF's Aho-Corasick). */
  private static final class Patterns {
    private final Map<Character, List<Map.Entry<String, AddedToken>>> byFirst = new HashMap<>();

    void add(String pattern, AddedToken token) {
      if (pattern.isEmpty()) {
        return;
      }
      List<Map.Entry<String, AddedToken>> list =
          byFirst.computeIfAbsent(pattern.charAt(0), c -> new ArrayList<>());
      list.add(Map.entry(pattern, token));
      list.sort((a, b) -> Integer.compare(b.getKey().length(), a.getKey().length()));
    }

    boolean isEmpty() {
      return byFirst.isEmpty();
    }

    /** The longest pattern that starts at {@code s[i]}, or null. */
    Map.Entry<String, AddedToken> longestAt(String s, int i) {
      List<Map.Entry<String, AddedToken>> list = byFirst.get(s.charAt(i));
      if (list != null) {
        for (Map.Entry<String, AddedToken> e : list) {
          if (s.startsWith(e.getKey(), i)) {
            return e;
          }
        }
      }
      return null;
    }
  }
}
