package io.llavaserve.engine.tokenizer;

/**
 * Streaming decode for one sequence: feed generated ids one by one and get back the text that is
 * safe to show. The concatenation of every {@link #next} result and {@link #flush()} equals {@link
 * Tokenizer#decode} of all the ids.
 *
 * <p>Text is held back while it could still change: bytes of a byte-fallback run until a non-byte
 * token closes the run (so half a UTF-8 character is never emitted, and an invalid run still turns
 * into U+FFFDs exactly as in a full decode); with a byte-level vocabulary, the bytes of a character
 * whose UTF-8 sequence is not complete yet. Not thread-safe: one per sequence.
 */
public final class IncrementalDetokenizer {

  private final Tokenizer tokenizer;
  private final boolean skipSpecialTokens;
  private final TokenDecoder.Stream stream;

  IncrementalDetokenizer(
      Tokenizer tokenizer, boolean skipSpecialTokens, TokenDecoder.Stream stream) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = skipSpecialTokens;
    this.stream = stream;
  }

  /** Adds one id and returns the text that became final (often the token's text, maybe ""). */
  public String next(int tokenId) {
    String piece = tokenizer.tokenPiece(tokenId);
    if (piece == null || (skipSpecialTokens && tokenizer.isSpecial(tokenId))) {
      return "";
    }
    return stream.push(piece);
  }

  /** Ends the sequence and returns whatever text was still held back. */
  public String flush() {
    return stream.finish();
  }
}
