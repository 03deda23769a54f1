package io.llavaserve.engine.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Cuts input text at literal occurrences of added tokens, leftmost match first and the longest
 * token on ties, as Hugging Face's {@code AddedVocabulary} does before normalization. The text
 * between matches is normalized and BPE-encoded on its own.
 *
 * <p>All added tokens are matched on the raw text; HF matches tokens marked {@code normalized} on
 * the normalized text instead, which differs only for tokens that normalization would change.
 */
final class AddedTokenSplitter {

  /** A piece of the input: either plain text (with its offset in the input) or an added token. */
  sealed interface Piece permits Text, Token {}

  record Text(String text, int offset) implements Piece {}

  record Token(AddedToken token) implements Piece {}

  private final Map<Character, List<AddedToken>> byFirstChar = new HashMap<>();

  AddedTokenSplitter(List<AddedToken> tokens) {
    for (AddedToken token : tokens) {
      byFirstChar.computeIfAbsent(token.content().charAt(0), c -> new ArrayList<>()).add(token);
    }
    // Longest first, so the first token that matches at a position is the longest one.
    byFirstChar
        .values()
        .forEach(l -> l.sort(Comparator.comparingInt((AddedToken t) -> -t.content().length())));
  }

  List<Piece> split(String text) {
    List<Piece> pieces = new ArrayList<>();
    int segmentStart = 0;
    int i = 0;
    while (i < text.length()) {
      AddedToken match = matchAt(text, i);
      if (match == null) {
        i++;
        continue;
      }
      int start = i;
      int stop = i + match.content().length();
      if (match.lstrip()) {
        while (start > segmentStart && Character.isWhitespace(text.charAt(start - 1))) {
          start--;
        }
      }
      if (match.rstrip()) {
        while (stop < text.length() && Character.isWhitespace(text.charAt(stop))) {
          stop++;
        }
      }
      if (start > segmentStart) {
        pieces.add(new Text(text.substring(segmentStart, start), segmentStart));
      }
      pieces.add(new Token(match));
      segmentStart = stop;
      i = stop;
    }
    if (segmentStart < text.length()) {
      pieces.add(new Text(text.substring(segmentStart), segmentStart));
    }
    return pieces;
  }

  private AddedToken matchAt(String text, int i) {
    List<AddedToken> candidates = byFirstChar.get(text.charAt(i));
    if (candidates == null) {
      return null;
    }
    for (AddedToken token : candidates) {
      int stop = i + token.content().length();
      if (text.startsWith(token.content(), i)
          && (!token.singleWord() || (!isWordChar(text, i - 1) && !isWordChar(text, stop)))) {
        return token;
      }
    }
    return null;
  }

  private static boolean isWordChar(String text, int index) {
    if (index < 0 || index >= text.length()) {
      return false;
    }
    char c = text.charAt(index);
    return Character.isLetterOrDigit(c) || c == '_';
  }
}
