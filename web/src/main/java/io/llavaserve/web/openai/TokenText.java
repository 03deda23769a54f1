package io.llavaserve.web.openai;

import io.llavaserve.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.function.IntFunction;

/**
 * The text and bytes of one token as OpenAI's logprobs report them: SentencePiece's {@code ▁}
 * becomes a space, and a byte-fallback piece {@code <0xE2>} stands for that single byte.
 */
public final class TokenText {

  /**
   * @param text the token as text (a lone byte of a split character shows as U+FFFD)
   */
  public record Piece(String text, byte[] bytes) {}

  private final IntFunction<String> pieces;

  public TokenText(Tokenizer tokenizer) {
    this(tokenizer::tokenPiece);
  }

  /**
   * @param pieces a token id's vocabulary piece, or null when unknown (a cluster gateway learns the
   *     pieces from its engines)
   */
  public TokenText(IntFunction<String> pieces) {
    this.pieces = pieces;
  }

  public Piece of(int id) {
    String piece = pieces.apply(id);
    if (piece == null) {
      return new Piece("", new byte[0]);
    }
    if (piece.length() == 6 && piece.startsWith("<0x") && piece.endsWith(">")) {
      try {
        byte b = (byte) Integer.parseInt(piece.substring(3, 5), 16);
        byte[] bytes = {b};
        return new Piece(new String(bytes, StandardCharsets.UTF_8), bytes);
      } catch (NumberFormatException e) {
        // an ordinary piece that happens to look like one
      }
    }
    String text = piece.replace('\u2581', ' ');
    return new Piece(text, text.getBytes(StandardCharsets.UTF_8));
  }
}
